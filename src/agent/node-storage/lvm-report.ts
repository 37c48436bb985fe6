// LVM commands and pure parsers for the node-storage procedures, in Ganeti's formats (reference
// ganeti-noded.md §4): `lvs`/`vgs`/`pvs` with `--noheadings --units=m --nosuffix --separator=|`,
// sizes in MiB. Argument arrays only; names are checked (lvmName) before they reach a command.
import { XenApiError } from '../../shared/errors.js';
import { runChecked } from '../../shared/exec.js';
import type { LvList, NodeVolume } from '../../shared/host/node-storage.js';

/** Time limit of one LVM query or change (LVM may wait on a lock; never forever). */
const LVM_TIMEOUT_MS = 60_000;
const COMMON = ['--noheadings', '--units=m', '--nosuffix', '--separator=|'];

/** LVM's own name rule (lvm(8) "VALID NAMES"); a leading '-' would read as an option. */
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;

/** A volume group name fit for an LVM command line, or INVALID_VALUE [field, name]. */
export function lvmName(field: string, name: unknown): string {
  if (typeof name !== 'string' || !LVM_NAME.test(name) || name === '.' || name === '..')
    throw new XenApiError('INVALID_VALUE', [field, String(name)]);
  return name;
}

/** Ganeti's _LVSLINE_REGEX: vg|lv|size|attr (attr at least 6 characters). */
const LVS_LINE = /^ *([^|]+)\|([^|]+)\|([0-9.]+)\|([^|]{6,})\|?$/;

/**
 * `lvs … -ovg_name,lv_name,lv_size,lv_attr` → Ganeti's GetVolumeList: virtual LVs (attr[0] 'v')
 * left out, size kept as printed, inactive = attr[4] '-', online = attr[5] 'o'. A line that does
 * not match is an error, as in Ganeti ("Invalid line in output from lvs").
 */
export function parseLvList(stdout: string): LvList {
  const out: LvList = {};
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const m = LVS_LINE.exec(line.trimEnd());
    if (!m) throw new Error(`Invalid line in output from lvs: '${line}'`);
    const [, vg, lv, size, attr] = m;
    if (attr[0] === 'v') continue;
    out[`${vg.trim()}/${lv.trim()}`] = [size, attr[4] === '-', attr[5] === 'o'];
  }
  return out;
}

/**
 * `lvs … --options=lv_name,lv_size,devices,vg_name` → Ganeti's NodeVolumes: one row per physical
 * volume an LV lies on (`/dev/sdb(0),/dev/sdc(12)` → two rows, extent suffix removed).
 */
export function parseNodeVolumes(stdout: string): NodeVolume[] {
  const out: NodeVolume[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const f = line.split('|').map((v) => v.trim());
    if (f.length !== 4) throw new Error(`Invalid line in output from lvs: '${line}'`);
    const [name, size, devices, vg] = f;
    for (const d of devices.split(',')) {
      const dev = d.split('(')[0];
      if (dev) out.push({ name, size, dev, vg });
    }
  }
  return out;
}

/** `vgs … -o vg_name,vg_size` → Ganeti's ListVolumeGroups `{vg: MiB}` (rounded as Ganeti's). */
export function parseVgList(stdout: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [vg, size] of rows(stdout, 2, 'vgs')) out[vg] = Math.round(mib('vgs', size));
  return out;
}

export interface PvRow {
  name: string;
  vg: string;
  size: number;
  used: number;
  free: number;
  allocatable: boolean;
}

export interface VgRow {
  name: string;
  size: number;
  free: number;
}

/** `pvs … -o pv_name,vg_name,pv_size,pv_used,pv_free,pv_attr`. */
export function parsePvs(stdout: string): PvRow[] {
  return rows(stdout, 6, 'pvs').map(([name, vg, size, used, free, attr]) => ({
    name,
    vg,
    size: mib('pvs', size),
    used: mib('pvs', used),
    free: mib('pvs', free),
    allocatable: attr[0] === 'a',
  }));
}

/** `vgs … -o vg_name,vg_size,vg_free`. */
export function parseVgs(stdout: string): VgRow[] {
  return rows(stdout, 3, 'vgs').map(([name, size, free]) => ({
    name,
    size: mib('vgs', size),
    free: mib('vgs', free),
  }));
}

/** Lines of `|`-separated fields, exactly `n` each, the first non-empty. */
function rows(stdout: string, n: number, cmd: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const f = l.split('|').map((v) => v.trim());
      if (f.length !== n || !f[0]) throw new Error(`Invalid line in output from ${cmd}: '${l}'`);
      return f;
    });
}

/** A MiB figure as LVM prints it (`60.00`, `0`); anything else is malformed output. */
function mib(cmd: string, v: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v)) throw new Error(`Invalid size in output from ${cmd}: '${v}'`);
  return Number(v);
}

const lvmRun = (cmd: string, args: string[]) => runChecked(cmd, args, { timeoutMs: LVM_TIMEOUT_MS });

export const lvsVolumes = (vgs: string[]) =>
  lvmRun('lvs', [...COMMON, '-ovg_name,lv_name,lv_size,lv_attr', ...vgs]).then(parseLvList);
export const lvsNodeVolumes = () =>
  lvmRun('lvs', [...COMMON, '--options=lv_name,lv_size,devices,vg_name']).then(parseNodeVolumes);
export const vgsList = () => lvmRun('vgs', [...COMMON, '-ovg_name,vg_size']).then(parseVgList);
export const vgsUnits = () => lvmRun('vgs', [...COMMON, '-ovg_name,vg_size,vg_free']).then(parseVgs);
export const pvsUnits = () =>
  lvmRun('pvs', [...COMMON, '-opv_name,vg_name,pv_size,pv_used,pv_free,pv_attr']).then(parsePvs);
export const pvAllocatable = (pv: string, on: boolean) =>
  lvmRun('pvchange', ['-x', on ? 'y' : 'n', '--', pv]);
export const vgRemoveMissing = (vg: string) => lvmRun('vgreduce', ['--removemissing', '--', vg]);
/** Tags of one LV (`lvs -o lv_tags`, comma-separated). */
export const lvTags = async (vg: string, lv: string) =>
  (await lvmRun('lvs', ['--noheadings', '-olv_tags', '--', `${vg}/${lv}`]))
    .trim()
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
/** `lvchange` arguments replacing an LV's tags (pure): every tag an argument of its own, `--` before the LV. */
export const lvChangeTagsArgs = (vg: string, lv: string, del: string[], add: string[]) => [
  ...del.flatMap((t) => ['--deltag', t]),
  ...add.flatMap((t) => ['--addtag', t]),
  '--',
  `${vg}/${lv}`,
];
export const lvChangeTags = (vg: string, lv: string, del: string[], add: string[]) =>
  lvmRun('lvchange', lvChangeTagsArgs(vg, lv, del, add));

/**
 * Ganeti's LVM tag sanitising (BlockdevSetInfo): first character `[A-Za-z0-9_+.]`, the others
 * `[-A-Za-z0-9_+.]`, anything else '_', cut to 128 characters.
 */
export function sanitizeTag(text: string): string {
  const cut = [...text].slice(0, 128);
  return cut
    .map((c, i) => (i === 0 ? (/[A-Za-z0-9_+.]/.test(c) ? c : '_') : /[-A-Za-z0-9_+.]/.test(c) ? c : '_'))
    .join('');
}
