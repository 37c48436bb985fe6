// lvm.py: list, create and destroy LVM physical volumes, volume groups and thin pools.
// Reports run the very commands XCP-ng's plugin runs (`pvs --noheadings --units B --nosuffix`...),
// so a failing report quotes the same command line in its error, byte for byte; mutators
// validate names first (so no argument can read as an LVM option) and undo what a failed
// command left behind, so a failure changes nothing.
import { type PluginArgs, commaList, flag, optional, required } from '../args.js';
import { type CommandResult, command } from '../command.js';
import { PluginFailure } from '../failure.js';
import { type PluginContext, definePlugin } from '../types.js';

const REPORT = ['--noheadings', '--units', 'B', '--nosuffix'];
const LVS = ['lvs', ...REPORT, '--separator', ':', '-olv_name,vg_name,lv_attr,lv_size,pool_lv'];

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

/** Non-empty report lines, indentation dropped (LVM indents rows by two spaces). */
const rows = (stdout: string) =>
  stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');

const int = (value: string, what: string, line: string): number => {
  const n = Number(value);
  if (value === '' || !Number.isSafeInteger(n)) throw new Error(`Unexpected ${what} value in \`${line}\`.`);
  return n;
};

/**
 * `pvs` rows: PV VG Fmt Attr PSize PFree. A PV in no VG has an empty VG column, so five fields
 * (upstream rejects that line; Berth lists the PV with vg_name "").
 */
export function parsePvs(stdout: string) {
  const out: Record<
    string,
    { vg_name: string; format: string; attributes: string; capacity: number; free: number }
  > = {};
  for (const [i, line] of rows(stdout).entries()) {
    const f = line.split(/\s+/);
    if (f.length === 5) f.splice(1, 0, '');
    if (f.length !== 6) throw new Error(`Unexpected pv result at index ${i}: \`${line}\`.`);
    const [pv, vg, format, attributes, size, free] = f;
    out[pv] = {
      vg_name: vg,
      format,
      attributes,
      capacity: int(size, 'pv_size', line),
      free: int(free, 'pv_free', line),
    };
  }
  return out;
}

/** `vgs` rows: VG #PV #LV #SN Attr VSize VFree. */
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
  for (const [i, line] of rows(stdout).entries()) {
    const f = line.split(/\s+/);
    if (f.length !== 7) throw new Error(`Unexpected vg result at index ${i}: \`${line}\`.`);
    const [vg, pvs, lvs, sns, attributes, size, free] = f;
    out[vg] = {
      pv_count: int(pvs, 'pv_count', line),
      lv_count: int(lvs, 'lv_count', line),
      sn_count: int(sns, 'snap_count', line),
      attributes,
      capacity: int(size, 'vg_size', line),
      free: int(free, 'vg_free', line),
    };
  }
  return out;
}

/** `lvs --separator :` rows: lv_name:vg_name:lv_attr:lv_size:pool_lv. */
export function parseLvs(stdout: string) {
  const out: Record<string, { vg_name: string; attributes: string; capacity: number; pool: string }> = {};
  for (const [i, line] of rows(stdout).entries()) {
    const f = line.split(':');
    if (f.length !== 5) throw new Error(`Unexpected lv result at index ${i}: \`${line}\`.`);
    const [lv, vg, attributes, size, pool] = f;
    out[lv] = { vg_name: vg, attributes, capacity: int(size, 'lv_size', line), pool };
  }
  return out;
}

export const vgNotFound = (stderr: string, vg: string) => stderr.includes(`Volume group "${vg}" not found`);

// --- commands ----------------------------------------------------------------------------

const pvs = async (ctx: PluginContext) => parsePvs((await command(ctx, ['pvs', ...REPORT])).stdout);

async function vgExists(ctx: PluginContext, vg: string): Promise<boolean> {
  const r = await command(ctx, ['vgs', ...REPORT, vg], { check: false });
  if (r.returncode === 0) return true;
  if (vgNotFound(r.stderr, vg)) return false;
  throw lvmError(r.returncode, r.stderr);
}

async function lvNames(ctx: PluginContext, vg: string): Promise<Set<string>> {
  const r = await command(ctx, [...LVS, '-a', vg], { check: false });
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
  const r = await command(ctx, ['vgs', ...REPORT, ...(vg ? [vg] : [])], { check: false });
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
    const r = await command(ctx, [...LVS, ...(vg ? [vg] : [])]);
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
