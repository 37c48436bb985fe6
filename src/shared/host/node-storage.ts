// The node-storage part of the host contract (issue 18, slice bdev-misc): the rest of Ganeti's
// node daemon block-device and storage-unit procedures (reference ganeti-noded.md §2, §4) as they
// mean something for Berth's volumes, plus its small miscellany (test_delay, the watcher pause,
// hypervisor parameter validation). Names and argument order follow Ganeti's; where a Ganeti
// argument is a Disk object, Berth passes the SR (SrConfig) and the volume's location, as the
// storage procedures do (src/shared/host/storage.ts).
//
// Confinement (the agent enforces it, never the caller): volumes are only ever reached through
// their SR's driver (paths inside this agent's --sr-roots); raw devices (bdev_sizes) only as
// /dev/<name> block devices; LVM storage units are listed for any volume group but modified or
// repaired only when they belong to one of Berth's SRs (VG_XenStorage-<uuid>).
import { RPC_CLASS_MS, type RpcClass } from '../noded/timeouts.js';
import type { SrConfig, Volume } from './storage.js';

/** Ganeti's storage unit types that exist on a Berth host (`file`, `lvm-vg`, `lvm-pv`). */
export type StorageUnitType = 'file' | 'lvm-vg' | 'lvm-pv';

/**
 * Fields of storage_list (Ganeti's constants.SF_*): `name`, `size`, `used`, `free` (MiB, numbers),
 * `allocatable` (bool), `type`, plus `vg` for lvm-pv (the volume group a PV belongs to).
 */
export type StorageField = 'name' | 'type' | 'size' | 'used' | 'free' | 'allocatable' | 'vg';

/** `lv_list`: `{"vg/lv": [size in MiB as lvs prints it, inactive, online]}` (Ganeti's shape). */
export type LvList = Record<string, [string, boolean, boolean]>;

/** One `node_volumes` row: an LV on one physical volume (an LV spread on two PVs gives two rows). */
export interface NodeVolume {
  name: string;
  /** MiB as lvs prints it (a string, as Ganeti keeps it). */
  size: string;
  /** The physical volume (extent suffix removed). */
  dev: string;
  vg: string;
}

/** What `hypervisor_validate_params` found acceptable but leaves to others (xapi's platform keys). */
export interface HvParamsCheck {
  /** Keys Berth's QEMU does not use and ignores (`platform:*`). */
  ignored: string[];
}

export interface NodeStorageProcedures {
  /**
   * Sizes in MiB (integer division, as Ganeti's `blockdev --getsize64` / 1 MiB) of the given
   * `/dev/<name>` block devices; anything else (not under /dev, not a block device, traversal,
   * missing) is silently left out, as Ganeti does.
   */
  bdev_sizes(devices: string[]): Promise<Record<string, number>>;
  /**
   * Zeroes `size` MiB of a Berth volume from `offset` MiB (Ganeti's bounds: both non-negative
   * integers, offset ≤ volume size, offset + size ≤ volume size). Only volumes of an SR this agent
   * manages, through its driver; a volume a VM (or an NBD export) holds open for writing is
   * VDI_IN_USE. qemu-io `write -z` (it takes QEMU's image lock; reads back as zeroes).
   */
  blockdev_wipe(sr: SrConfig, location: string, offset: number, size: number): Promise<void>;
  /**
   * Labels a volume with free text (Ganeti: the owning instance's name as an LVM tag). Kept in the
   * agent's storage state for every SR type; on lvm SRs also as the LV's tag (sanitised as
   * Ganeti's: `[A-Za-z0-9_+.]` then `[-A-Za-z0-9_+.]`, at most 128). '' removes it.
   */
  blockdev_setinfo(sr: SrConfig, location: string, info: string): Promise<void>;
  /** The text blockdev_setinfo gave the volume ('' when none). A Berth addition, to read it back. */
  blockdev_getinfo(sr: SrConfig, location: string): Promise<string>;
  /**
   * Renames volumes: each `[location, newLocation]` (uuids) gets the new location (file SRs:
   * `<new>.qcow2`; lvm: `lvrename LV-<old> LV-<new>`). Volumes in use, missing, or whose new name
   * exists are refused; errors are collected and reported together (Ganeti's "; " join), the
   * successful ones stay renamed. Returns the renamed volumes.
   */
  blockdev_rename(sr: SrConfig, devlist: [string, string][]): Promise<Volume[]>;
  /**
   * Ganeti: make DRBD secondary and drop the instance's disk symlinks. Berth has neither; the
   * only way a volume is held open by the agent outside a running QEMU is an NBD export, so this
   * closes every export of these volumes. Returns how many were closed.
   */
  blockdev_close(sr: SrConfig, locations: string[]): Promise<number>;
  /** Ganeti's GetVolumeList: LVs of the given volume groups (all when empty), virtual LVs skipped. */
  lv_list(vgs: string[]): Promise<LvList>;
  /** Ganeti's ListVolumeGroups: `{vg: size in MiB}` (rounded down). */
  vg_list(): Promise<Record<string, number>>;
  /** Ganeti's NodeVolumes: every LV with the physical volumes it lies on. */
  node_volumes(): Promise<NodeVolume[]>;
  /**
   * Ganeti's storage units: rows of `fields` for units of `type` (named `name`, or all when
   * null). `args` as Ganeti's su_args: ignored for lvm types; for `file` the directories to
   * report (each inside this agent's SR roots; empty: the roots themselves).
   */
  storage_list(
    type: StorageUnitType,
    args: string[],
    name: string | null,
    fields: StorageField[],
  ): Promise<(string | number | boolean)[][]>;
  /** Ganeti: `lvm-pv` `{allocatable: bool}` (pvchange -x); only PVs of Berth's own VGs. */
  storage_modify(
    type: StorageUnitType,
    args: string[],
    name: string,
    changes: Record<string, unknown>,
  ): Promise<void>;
  /**
   * Ganeti: `fix-consistency` on `lvm-vg` (vgreduce --removemissing) and `lvm-pv` (on its VG);
   * only Berth's own VGs. Returns the command's output lines.
   */
  storage_execute(type: StorageUnitType, args: string[], name: string, op: string): Promise<string[]>;
  /** Sleeps `duration` seconds (0–3600) and returns true; the client waits duration + 5 s. */
  test_delay(duration: number): Promise<boolean>;
  /**
   * Pauses the watcher until `until` (epoch seconds; null resumes). Berth's watcher is the pool
   * master's automatic restart of protected VMs (src/manager/pool/auto-restart.ts); the pause
   * lives on the agent (`<state root>/watcher.pause`, Ganeti's "<int>\n"), so it survives restarts.
   */
  set_watcher_pause(until: number | null): Promise<void>;
  /** The pause's end (epoch seconds) if it is still in the future, else null. */
  get_watcher_pause(): Promise<number | null>;
  /**
   * Checks QEMU/KVM instance parameters on this host (`hvname` kvm or qemu): the VM fields Berth
   * turns into a QEMU command line (VCPUs_at_startup, VCPUs_max, memory_static_max,
   * memory_dynamic_max, PV_kernel, PV_ramdisk, PV_args, other_config:balloon) by the agent's own
   * spec checks, kernel and initrd must exist here; `platform:*` keys are accepted and listed as
   * ignored; any other key is INVALID_VALUE.
   */
  hypervisor_validate_params(hvname: string, params: Record<string, string>): Promise<HvParamsCheck>;
}

export type NodeStorageProcedureName = keyof NodeStorageProcedures;

export const NODE_STORAGE_PROCEDURES = [
  'bdev_sizes',
  'blockdev_wipe',
  'blockdev_setinfo',
  'blockdev_getinfo',
  'blockdev_rename',
  'blockdev_close',
  'lv_list',
  'vg_list',
  'node_volumes',
  'storage_list',
  'storage_modify',
  'storage_execute',
  'test_delay',
  'set_watcher_pause',
  'get_watcher_pause',
  'hypervisor_validate_params',
] as const satisfies readonly NodeStorageProcedureName[];

type Unlisted = Exclude<NodeStorageProcedureName, (typeof NODE_STORAGE_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** Longest test_delay (seconds): Ganeti sets none; Berth bounds a call that only sleeps. */
export const TEST_DELAY_MAX_S = 3600;

/** Ganeti's timeout class of each procedure (rpc_defs.py); Berth's additions by their kin. */
export const NODE_STORAGE_CLASS: Readonly<Record<NodeStorageProcedureName, RpcClass>> = {
  bdev_sizes: 'URGENT',
  blockdev_wipe: 'SLOW',
  blockdev_setinfo: 'NORMAL',
  blockdev_getinfo: 'URGENT',
  blockdev_rename: 'NORMAL',
  blockdev_close: 'NORMAL',
  lv_list: 'URGENT',
  vg_list: 'URGENT',
  node_volumes: 'FAST',
  storage_list: 'NORMAL',
  storage_modify: 'NORMAL',
  storage_execute: 'NORMAL',
  test_delay: 'NORMAL',
  set_watcher_pause: 'URGENT',
  get_watcher_pause: 'URGENT',
  hypervisor_validate_params: 'NORMAL',
};

/**
 * The node-storage procedures over an agent RPC `call` (the manager's client of a host's agent),
 * each with its class's time limit; `test_delay` with duration + 5 s (Ganeti's).
 */
export function nodeStorageClient(
  call: (procedure: string, args: unknown[], timeoutMs?: number) => Promise<unknown>,
): NodeStorageProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of NODE_STORAGE_PROCEDURES)
    out[name] = (...args: unknown[]) => call(name, args, RPC_CLASS_MS[NODE_STORAGE_CLASS[name]]);
  out.test_delay = (duration: unknown) =>
    call('test_delay', [duration], typeof duration === 'number' ? (duration + 5) * 1000 : undefined);
  return out as unknown as NodeStorageProcedures;
}
