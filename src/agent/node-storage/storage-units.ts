// Ganeti's storage units (storage_list / storage_modify / storage_execute, lib/storage/*) on a
// Berth host: `lvm-vg`, `lvm-pv` and `file` (directories inside this agent's SR roots). Listing
// reads every volume group; changes and repairs touch only Berth's own (VG_XenStorage-<uuid>, the
// lvm SR's), so a call cannot disturb an administrator's volume groups.
import { statfsSync } from 'node:fs';
import { XenApiError } from '../../shared/errors.js';
import { run } from '../../shared/exec.js';
import type { StorageField, StorageUnitType } from '../../shared/host/node-storage.js';
import { confine } from '../storage/paths.js';
import type { DriverContext } from '../storage/types.js';
import { lvmName, pvAllocatable, pvsUnits, vgRemoveMissing, vgsUnits } from './lvm-report.js';

const MiB = 1024 * 1024;
const BERTH_VG = /^VG_XenStorage-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DU_TIMEOUT_MS = 120_000;

/** The fields each unit type answers (Ganeti's LIST_FIELDS, plus `vg` for a PV). */
export const UNIT_FIELDS: Readonly<Record<StorageUnitType, readonly StorageField[]>> = {
  file: ['name', 'type', 'size', 'used', 'free', 'allocatable'],
  'lvm-vg': ['name', 'type', 'size', 'used', 'free', 'allocatable'],
  'lvm-pv': ['name', 'type', 'size', 'used', 'free', 'allocatable', 'vg'],
};

export const UNIT_TYPES = Object.keys(UNIT_FIELDS) as StorageUnitType[];

type Unit = Partial<Record<StorageField, string | number | boolean>>;

/** `type` as one of Ganeti's unit types, else INVALID_VALUE. */
export function unitType(v: unknown): StorageUnitType {
  if (typeof v !== 'string' || !(UNIT_TYPES as string[]).includes(v))
    throw new XenApiError('INVALID_VALUE', ['type', String(v), `one of ${UNIT_TYPES.join(', ')}`]);
  return v as StorageUnitType;
}

/** Fields checked against the type's (pure). */
export function checkFields(type: StorageUnitType, fields: unknown): StorageField[] {
  if (!Array.isArray(fields) || !fields.length)
    throw new XenApiError('INVALID_VALUE', ['fields', JSON.stringify(fields) ?? '', 'a non-empty list']);
  for (const f of fields)
    if (typeof f !== 'string' || !(UNIT_FIELDS[type] as readonly string[]).includes(f))
      throw new XenApiError('INVALID_VALUE', [
        'fields',
        String(f),
        `${type} has ${UNIT_FIELDS[type].join(', ')}`,
      ]);
  return fields as StorageField[];
}

/** Rows of `fields` for the units named `name` (null: all), in name order (pure). */
export function selectRows(units: Unit[], name: string | null, fields: StorageField[]) {
  return units
    .filter((u) => name === null || u.name === name)
    .sort((a, b) => String(a.name).localeCompare(String(b.name)))
    .map((u) => fields.map((f) => u[f] ?? ''));
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** Bytes a directory tree takes on disk (`du -s -B1`; argument array, time-limited). */
async function usedBytes(dir: string): Promise<number> {
  const r = await run('du', ['-s', '-B1', '--', dir], { timeoutMs: DU_TIMEOUT_MS });
  const n = Number.parseInt(r.stdout, 10);
  return Number.isFinite(n) ? n : 0;
}

async function fileUnits(ctx: DriverContext, args: string[]): Promise<Unit[]> {
  const dirs = args.length ? args.map((d) => confine('args', d, ctx.allowedRoots)) : [...ctx.allowedRoots];
  const out: Unit[] = [];
  for (const dir of dirs) {
    let fs: ReturnType<typeof statfsSync>;
    try {
      fs = statfsSync(dir);
    } catch {
      continue; // a root not made yet has no storage to report
    }
    out.push({
      name: dir,
      type: 'file',
      size: round2((fs.blocks * fs.bsize) / MiB),
      free: round2((fs.bavail * fs.bsize) / MiB),
      used: round2((await usedBytes(dir)) / MiB),
      allocatable: true,
    });
  }
  return out;
}

async function lvmUnits(type: 'lvm-vg' | 'lvm-pv'): Promise<Unit[]> {
  if (type === 'lvm-pv') return (await pvsUnits()).map((p) => ({ ...p, type }));
  return (await vgsUnits()).map((v) => ({
    name: v.name,
    type,
    size: v.size,
    free: v.free,
    used: round2(v.size - v.free),
    allocatable: true,
  }));
}

const lvmFailure = (e: unknown) =>
  new XenApiError('SR_BACKEND_FAILURE', ['LVM', '', e instanceof Error ? e.message : String(e)]);

export async function storageList(
  ctx: DriverContext,
  type: StorageUnitType,
  args: string[],
  name: string | null,
  fields: StorageField[],
) {
  const units =
    type === 'file'
      ? await fileUnits(ctx, args)
      : await lvmUnits(type).catch((e) => {
          throw lvmFailure(e);
        });
  return selectRows(units, name, fields);
}

const notAllowed = (why: string) => new XenApiError('OPERATION_NOT_ALLOWED', [why]);

/** The Berth volume group a unit is or lies in, else OPERATION_NOT_ALLOWED. */
async function berthVg(type: StorageUnitType, name: string): Promise<string> {
  if (type === 'lvm-vg') {
    lvmName('name', name);
    if (!BERTH_VG.test(name)) throw notAllowed(`volume group ${name} is not one of Berth's SRs`);
    return name;
  }
  const pv = (
    await pvsUnits().catch((e) => {
      throw lvmFailure(e);
    })
  ).find((p) => p.name === name);
  if (!pv) throw new XenApiError('INVALID_VALUE', ['name', name, 'no such physical volume']);
  if (!BERTH_VG.test(pv.vg)) throw notAllowed(`physical volume ${name} is not in one of Berth's SRs`);
  return pv.vg;
}

export async function storageModify(
  type: StorageUnitType,
  name: string,
  changes: Record<string, unknown>,
): Promise<void> {
  if (type !== 'lvm-pv') throw notAllowed(`storage units of type ${type} cannot be modified`);
  const keys = Object.keys(changes);
  const bad = keys.find((k) => k !== 'allocatable');
  if (bad) throw new XenApiError('INVALID_VALUE', ['changes', bad, 'only allocatable can be modified']);
  if (typeof changes.allocatable !== 'boolean')
    throw new XenApiError('INVALID_VALUE', ['changes.allocatable', String(changes.allocatable)]);
  await berthVg(type, name);
  await pvAllocatable(name, changes.allocatable).catch((e) => {
    throw lvmFailure(e);
  });
}

/** Ganeti's only storage operation: fix-consistency (vgreduce --removemissing). */
export const STORAGE_OPS = ['fix-consistency'] as const;

export async function storageExecute(type: StorageUnitType, name: string, op: string): Promise<string[]> {
  if (!(STORAGE_OPS as readonly string[]).includes(op))
    throw new XenApiError('INVALID_VALUE', ['op', op, `one of ${STORAGE_OPS.join(', ')}`]);
  if (type === 'file') throw notAllowed(`operation ${op} is not available for storage units of type file`);
  const vg = await berthVg(type, name);
  const out = await vgRemoveMissing(vg).catch((e) => {
    throw lvmFailure(e);
  });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
