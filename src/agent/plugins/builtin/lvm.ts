// lvm.py: list, create and destroy LVM physical volumes, volume groups and thin pools.
// Reports use LVM's JSON report format (robust against empty columns such as a PV without a
// VG); mutators validate names first (so no argument can read as an LVM option) and undo what
// a failed command left behind, so a failure changes nothing.
import { type PluginArgs, commaList, flag, optional, required } from '../args.js';
import { type CommandResult, command } from '../command.js';
import { PluginFailure } from '../failure.js';
import { type PluginContext, definePlugin } from '../types.js';

const REPORT = ['--reportformat', 'json', '--units', 'B', '--nosuffix'];
const PV_COLUMNS = 'pv_name,vg_name,pv_fmt,pv_attr,pv_size,pv_free';
const VG_COLUMNS = 'vg_name,pv_count,lv_count,snap_count,vg_attr,vg_size,vg_free';
const LV_COLUMNS = 'lv_name,vg_name,lv_attr,lv_size,pool_lv';

export const lvmError = (rc: number, stderr: string) => new PluginFailure(`LVM_ERROR(${rc})`, stderr);

// --- validation --------------------------------------------------------------------------

const LVM_NAME_RE = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
const RESERVED_LV_PARTS = ['_cdata', '_cmeta', '_corig', '_mlog', '_mimage', '_pmspare', '_rimage', '_rmeta'];
const RESERVED_LV_PARTS_2 = ['_tdata', '_tmeta', '_vorigin', '_vdata'];

export function checkVgName(name: string): string {
  if (!LVM_NAME_RE.test(name) || name === '.' || name === '..') {
    throw new PluginFailure(
      '-1',
      `Invalid volume group name '${name}'`,
      'allowed: letters, digits and + _ . - (not first), at most 127 characters',
    );
  }
  return name;
}

export function checkLvName(name: string): string {
  const reserved =
    name.startsWith('snapshot') ||
    name.startsWith('pvmove') ||
    [...RESERVED_LV_PARTS, ...RESERVED_LV_PARTS_2].some((p) => name.includes(p));
  if (!LVM_NAME_RE.test(name) || name === '.' || name === '..' || reserved) {
    throw new PluginFailure('-1', `Invalid logical volume name '${name}'`, 'see lvm(8) "VALID NAMES"');
  }
  return name;
}

/** Devices are absolute paths; anything else could be taken as an option by LVM. */
export function checkDevices(raw: string): string[] {
  const devices = commaList(raw, 'devices');
  for (const d of devices) {
    if (!d.startsWith('/') || /[\0\n]/.test(d)) {
      throw new PluginFailure(
        '-1',
        `Invalid device '${d}'`,
        'devices must be absolute paths such as /dev/sdb',
      );
    }
  }
  return devices;
}

// --- parsing -----------------------------------------------------------------------------

type Row = Record<string, string>;

/** Rows of one section (`pv`, `vg`, `lv`) of an LVM JSON report. */
export function reportRows(stdout: string, section: 'pv' | 'vg' | 'lv'): Row[] {
  let doc: { report?: Record<string, Row[]>[] };
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new Error(`Unexpected LVM report: ${stdout.slice(0, 200)}`);
  }
  const rows: Row[] = [];
  for (const part of doc.report ?? []) rows.push(...(part[section] ?? []));
  return rows;
}

const int = (row: Row, key: string): number => {
  const n = Number(row[key]);
  if (!Number.isSafeInteger(n)) throw new Error(`Unexpected ${key} value '${row[key]}'`);
  return n;
};

export function parsePvs(stdout: string) {
  const out: Record<
    string,
    { vg_name: string; format: string; attributes: string; capacity: number; free: number }
  > = {};
  for (const r of reportRows(stdout, 'pv')) {
    out[r.pv_name] = {
      vg_name: r.vg_name,
      format: r.pv_fmt,
      attributes: r.pv_attr,
      capacity: int(r, 'pv_size'),
      free: int(r, 'pv_free'),
    };
  }
  return out;
}

export function parseVgs(stdout: string) {
  const out: Record<
    string,
    {
      pv_count: number;
      lv_count: number;
      sn_count: number;
      attributes: string;
      capacity: number;
      free: number;
    }
  > = {};
  for (const r of reportRows(stdout, 'vg')) {
    out[r.vg_name] = {
      pv_count: int(r, 'pv_count'),
      lv_count: int(r, 'lv_count'),
      sn_count: int(r, 'snap_count'),
      attributes: r.vg_attr,
      capacity: int(r, 'vg_size'),
      free: int(r, 'vg_free'),
    };
  }
  return out;
}

export function parseLvs(stdout: string) {
  const out: Record<string, { vg_name: string; attributes: string; capacity: number; pool: string }> = {};
  for (const r of reportRows(stdout, 'lv')) {
    out[r.lv_name] = {
      vg_name: r.vg_name,
      attributes: r.lv_attr,
      capacity: int(r, 'lv_size'),
      pool: r.pool_lv,
    };
  }
  return out;
}

export const vgNotFound = (stderr: string, vg: string) => stderr.includes(`Volume group "${vg}" not found`);

// --- commands ----------------------------------------------------------------------------

const pvs = async (ctx: PluginContext) =>
  parsePvs((await command(ctx, ['pvs', ...REPORT, '-o', PV_COLUMNS])).stdout);

async function vgExists(ctx: PluginContext, vg: string): Promise<boolean> {
  const r = await command(ctx, ['vgs', ...REPORT, '-o', 'vg_name', vg], { check: false });
  if (r.returncode === 0) return true;
  if (vgNotFound(r.stderr, vg)) return false;
  throw lvmError(r.returncode, r.stderr);
}

async function lvNames(ctx: PluginContext, vg: string): Promise<Set<string>> {
  const r = await command(ctx, ['lvs', ...REPORT, '-a', '-o', LV_COLUMNS, vg], { check: false });
  if (r.returncode !== 0) throw lvmError(r.returncode, r.stderr);
  return new Set(Object.keys(parseLvs(r.stdout)));
}

/** Runs an LVM mutator; a non-zero exit becomes LVM_ERROR(rc) after `undo` has run. */
async function mutate(ctx: PluginContext, argv: string[], undo: () => Promise<void>): Promise<CommandResult> {
  const r = await command(ctx, argv, { check: false });
  if (r.returncode !== 0) {
    try {
      await undo();
    } catch (e) {
      ctx.log.error('could not undo a failed LVM change', { command: argv[0], error: String(e) });
      throw new PluginFailure(
        `LVM_ERROR(${r.returncode})`,
        r.stderr,
        `cleanup after the failure also failed: ${(e as Error).message}`,
      );
    }
    throw lvmError(r.returncode, r.stderr);
  }
  return r;
}

/** pvremove the given devices that are PVs now but were not before, and belong to no VG. */
async function removeNewPvs(ctx: PluginContext, devices: string[], before: Set<string>): Promise<void> {
  const now = await pvs(ctx);
  const fresh = devices.filter((d) => now[d] && !before.has(d) && now[d].vg_name === '');
  if (fresh.length > 0) await command(ctx, ['pvremove', '-y', ...fresh]);
}

async function listVolumeGroups(args: PluginArgs, ctx: PluginContext) {
  const vg = optional(args, 'vg_name');
  if (vg !== undefined) checkVgName(vg);
  const r = await command(ctx, ['vgs', ...REPORT, '-o', VG_COLUMNS, ...(vg ? [vg] : [])], { check: false });
  if (r.returncode !== 0) {
    if (vg && vgNotFound(r.stderr, vg)) return '{}';
    throw lvmError(r.returncode, r.stderr);
  }
  return JSON.stringify(parseVgs(r.stdout));
}

export const lvm = definePlugin('lvm', {
  async list_physical_volumes(_args, ctx) {
    return JSON.stringify(await pvs(ctx));
  },

  list_volume_groups: listVolumeGroups,

  async list_logical_volumes(args, ctx) {
    const vg = optional(args, 'vg_name');
    if (vg !== undefined) checkVgName(vg);
    const r = await command(ctx, ['lvs', ...REPORT, '-o', LV_COLUMNS, ...(vg ? [vg] : [])]);
    return JSON.stringify(parseLvs(r.stdout));
  },

  async create_physical_volume(args, ctx) {
    const devices = checkDevices(required(args, 'devices'));
    const force = flag(args, 'force');
    const ignoreFs = flag(args, 'ignore_existing_filesystems');
    const mode = force ? ['-ff', '-y'] : ignoreFs ? ['-f', '-y'] : ['-qq'];
    const before = new Set(Object.keys(await pvs(ctx)));
    await mutate(ctx, ['pvcreate', ...devices, ...mode], () => removeNewPvs(ctx, devices, before));
    return '{}';
  },

  async create_volume_group(args, ctx) {
    const vg = checkVgName(required(args, 'vg_name'));
    const devices = checkDevices(required(args, 'devices'));
    const force = flag(args, 'force');
    const before = new Set(Object.keys(await pvs(ctx)));
    const existed = await vgExists(ctx, vg);
    await mutate(ctx, ['vgcreate', vg, ...devices, ...(force ? ['-f'] : [])], async () => {
      // vgcreate initialises plain devices as PVs on the way; a failure must not leave them,
      // nor a VG it did not finish.
      if (!existed && (await vgExists(ctx, vg))) await command(ctx, ['vgremove', '-f', '-y', vg]);
      await removeNewPvs(ctx, devices, before);
    });
    return '{}';
  },

  async create_thin_pool(args, ctx) {
    const vg = checkVgName(required(args, 'vg_name'));
    const lv = checkLvName(required(args, 'lv_name'));
    const before = await lvNames(ctx, vg);
    await mutate(ctx, ['lvcreate', '-l', '100%FREE', '-T', `${vg}/${lv}`], async () => {
      const left = [...(await lvNames(ctx, vg))].filter((n) => !before.has(n) && !n.startsWith('['));
      if (left.length > 0) await command(ctx, ['lvremove', '-f', '-y', ...left.map((n) => `${vg}/${n}`)]);
    });
    return '{}';
  },

  async destroy_volume_group(args, ctx) {
    const vg = checkVgName(required(args, 'vg_name'));
    const force = flag(args, 'force');
    const r = await command(ctx, ['vgremove', vg, ...(force ? ['-f', '-y'] : ['-qq'])], { check: false });
    if (r.returncode !== 0) {
      if (force && vgNotFound(r.stderr, vg)) return '{}';
      throw lvmError(r.returncode, r.stderr);
    }
    return '{}';
  },
});
