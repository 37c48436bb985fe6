// kalray_dpu.py: block devices, RAIDs, logical volume stores and volumes of a Kalray DPU,
// managed over its JSON-RPC server. The DPU firmware only exposes the LVS named `lvs` and the
// volumes volume_09..volume_12 as virtual functions, so other names are refused up front.
import { type PluginArgs, optional } from '../args.js';
import { PluginFailure } from '../failure.js';
import { type PluginFunction, definePlugin } from '../types.js';
import { type DpuTarget, callDpu } from './dpu-client.js';

export const DPU_LVS_NAME = 'lvs';
export const DPU_VOLUMES = ['volume_09', 'volume_10', 'volume_11', 'volume_12'] as const;
export const DPU_RAID_LEVELS = ['raid0', 'raid1', 'raid10'] as const;

const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*|[0-9a-fA-F:]+)$/;

/** Connection arguments common to every function (username/password required). */
export function dpuTarget(args: PluginArgs): DpuTarget {
  const username = optional(args, 'username');
  if (!username) throw new PluginFailure('-1', "'username' is required");
  const password = optional(args, 'password');
  if (password === undefined || password === '') throw new PluginFailure('-1', "'password' is required");
  const server = optional(args, 'server') ?? 'localhost';
  if (!HOST_RE.test(server)) throw new PluginFailure('-1', `Invalid server '${server}'`);
  const portText = optional(args, 'port') ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
    throw new PluginFailure('-1', `Invalid port '${portText}'`);
  const timeoutText = optional(args, 'timeout') ?? '60.0';
  const timeout = Number(timeoutText);
  if (timeoutText.trim() === '' || !Number.isFinite(timeout) || timeout <= 0 || timeout > 3600) {
    throw new PluginFailure(
      '-1',
      `Invalid timeout '${timeoutText}'`,
      'seconds, greater than 0, at most 3600',
    );
  }
  return { server, port, username, password, timeoutMs: Math.round(timeout * 1000) };
}

function key(args: PluginArgs, name: string): string {
  const v = optional(args, name);
  if (v === undefined || v === '') throw new PluginFailure('-1', `Key '${name}' is missing`);
  return v;
}

export function checkLvsName(name: string): string {
  if (name !== DPU_LVS_NAME) {
    throw new PluginFailure('-1', `The logical volume store must be named '${DPU_LVS_NAME}' (got '${name}')`);
  }
  return name;
}

export function checkVolumeName(name: string): string {
  if (!(DPU_VOLUMES as readonly string[]).includes(name)) {
    throw new PluginFailure('-1', `The volume name must be one of ${DPU_VOLUMES.join(', ')} (got '${name}')`);
  }
  return name;
}

/** Deletion takes "<lvs>/<volume>"; only volumes can be deleted. */
export function checkDeletable(name: string): string {
  const [lvs, vol, ...rest] = name.split('/');
  if (vol === undefined || rest.length > 0) {
    throw new PluginFailure(
      '-1',
      `Only volumes can be deleted: give '${DPU_LVS_NAME}/<volume>' (got '${name}')`,
    );
  }
  checkLvsName(lvs);
  checkVolumeName(vol);
  return name;
}

export function parseSize(text: string): number {
  if (!/^\d+$/.test(text.trim()))
    throw new PluginFailure('-1', `Wrong size: invalid literal for int() with base 10: '${text}'`);
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new PluginFailure('-1', `Wrong size: ${text} is not a positive size in bytes`);
  return n;
}

/** A function that validates its arguments, then makes one JSON-RPC call and returns its result as JSON. */
const rpc =
  (method: string, params: (args: PluginArgs) => Record<string, unknown>): PluginFunction =>
  async (args) => {
    const target = dpuTarget(args);
    const p = params(args);
    return JSON.stringify(await callDpu(target, method, p));
  };

export const kalrayDpu = definePlugin('kalray_dpu', {
  get_devices: rpc('bdev_get_bdevs', () => ({})),
  get_raids: rpc('bdev_raid_get_bdevs', () => ({ category: 'all' })),
  get_lvs: rpc('bdev_lvol_get_lvstores', () => ({})),
  raid_create: rpc('bdev_raid_create', (args) => {
    const name = key(args, 'raid_name');
    const level = key(args, 'raid_level');
    if (!(DPU_RAID_LEVELS as readonly string[]).includes(level)) {
      throw new PluginFailure('-1', 'Only raid0, raid1 and raid10 are supported');
    }
    const baseBdevs = key(args, 'base_bdevs')
      .split(',')
      .map((s) => s.trim());
    if (baseBdevs.some((b) => b === ''))
      throw new PluginFailure('-1', `Invalid base_bdevs '${args.base_bdevs}'`);
    return {
      name,
      raid_level: level,
      base_bdevs: baseBdevs,
      strip_size_kb: 128,
      persist: true,
      split_dp: true,
    };
  }),
  lvs_create: rpc('bdev_lvol_create_lvstore', (args) => ({
    lvs_name: checkLvsName(key(args, 'lvs_name')),
    bdev_name: key(args, 'bdev_name'),
  })),
  lvol_create: rpc('bdev_lvol_create', (args) => ({
    lvol_name: checkVolumeName(key(args, 'lvol_name')),
    size: parseSize(key(args, 'lvol_size_in_bytes')),
    lvs_name: checkLvsName(key(args, 'lvs_name')),
  })),
  lvol_delete: rpc('bdev_lvol_delete', (args) => ({ name: checkDeletable(key(args, 'lvol_name')) })),
});
