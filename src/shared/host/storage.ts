// The storage part of the host contract: what a host agent's storage procedures take and return
// (plain JSON on the agent RPC) and the procedures themselves. The agent serves them
// (src/agent/storage/rpc.ts); the manager calls them through its client of the host's agent.
// Names follow Ganeti's node-daemon block-device calls where they overlap (blockdev_create,
// blockdev_remove, blockdev_grow, blockdev_snapshot, blockdev_convert, blockdev_find,
// blockdev_getdimensions) plus the SR-level calls of xapi's SM backends (sr_*). Every host path in a
// call is checked by the agent against its own allowed roots: a manager bug or a hostile
// device_config cannot reach outside them.

export type ImageFormat = 'qcow2' | 'raw';

/** An SR as a driver sees it: no database, only what identifies and locates it. */
export interface SrConfig {
  uuid: string;
  type: string;
  deviceConfig: Record<string, string>;
  /**
   * Another host has this (shared) SR attached now: attach must not repair leftovers, which may
   * be that host's operations in flight.
   */
  inUseElsewhere?: boolean;
}

export interface Volume {
  /** Stable name of the volume inside its SR (the VDI's `location`). */
  location: string;
  /** Host path a QEMU process opens. */
  path: string;
  format: ImageFormat;
  virtualSize: number;
  physicalUtilisation: number;
  readOnly: boolean;
}

export interface SrStats {
  physicalSize: number;
  physicalUtilisation: number;
  /** Bytes still available for new data. */
  free: number;
}

export interface SrScan {
  stats: SrStats;
  volumes: Volume[];
}

export interface ProbeEntry {
  uuid: string;
  /** What identifies it: a directory, a VG name… */
  where: string;
  size?: number;
  free?: number;
}

/** What an attach found and repaired (leftovers of interrupted operations). */
export interface Repairs {
  fixed: string[];
}

/** SM facts shown as the SM object of this type. */
export interface DriverInfo {
  type: string;
  name: string;
  description: string;
  /** device_config keys → help text (SM.configuration). */
  configuration: Record<string, string>;
  capabilities: string[];
  contentType: string;
  formats: ImageFormat[];
  /** Thin (qcow2 files) vs thick (full-size volumes). */
  thin: boolean;
  /** Can be attached on several hosts at once (SR.shared = true). */
  shareable?: boolean;
  /** Disks a running VM writes can be snapshotted (instance_snapshot_disks). */
  liveSnapshot?: boolean;
}

/** The storage procedures of a host agent, one method per RPC procedure of the same name. */
export interface StorageProcedures {
  /** The SR drivers this host offers (one SM object each). */
  storage_drivers(): Promise<DriverInfo[]>;
  /** Checks device_config (paths within the allowed roots, devices exist…) without acting. */
  storage_validate(type: string, deviceConfig: Record<string, string>): Promise<void>;
  sr_create(sr: SrConfig): Promise<SrStats>;
  sr_destroy(sr: SrConfig): Promise<void>;
  /** Makes the SR usable and repairs what interrupted operations left behind. */
  sr_attach(sr: SrConfig): Promise<Repairs>;
  sr_detach(sr: SrConfig): Promise<void>;
  sr_stats(sr: SrConfig): Promise<SrStats>;
  sr_scan(sr: SrConfig): Promise<SrScan>;
  sr_probe(type: string, deviceConfig: Record<string, string>): Promise<ProbeEntry[]>;
  /** Deletes unreferenced internal volumes and coalesces single-child bases (not of `busy`). */
  sr_gc(sr: SrConfig, busy: string[]): Promise<string[]>;
  blockdev_create(sr: SrConfig, uuid: string, size: number): Promise<Volume>;
  blockdev_remove(sr: SrConfig, location: string): Promise<void>;
  blockdev_grow(sr: SrConfig, location: string, size: number): Promise<Volume>;
  /** Clone and snapshot alike: a new volume with the source's current content. */
  blockdev_snapshot(sr: SrConfig, location: string, newUuid: string): Promise<Volume>;
  /** A full, independent copy of a volume into an SR of the same host. */
  blockdev_convert(src: SrConfig, location: string, dst: SrConfig, newUuid: string): Promise<Volume>;
  blockdev_find(sr: SrConfig, location: string): Promise<Volume | null>;
  blockdev_getdimensions(sr: SrConfig, locations: string[]): Promise<(number | null)[]>;
  /** A new volume with a host file's bytes (suspend images); the file is under the file roots. */
  blockdev_import_file(sr: SrConfig, newUuid: string, path: string): Promise<Volume>;
  /** A volume's bytes into a raw host file under the file roots, cut to `bytes`. */
  blockdev_export_file(sr: SrConfig, location: string, path: string, bytes?: number): Promise<void>;
}

export type StorageProcedureName = keyof StorageProcedures;

/** Every storage procedure (the agent serves exactly these; docs/agent.md lists them). */
export const STORAGE_PROCEDURES: readonly StorageProcedureName[] = [
  'storage_drivers',
  'storage_validate',
  'sr_create',
  'sr_destroy',
  'sr_attach',
  'sr_detach',
  'sr_stats',
  'sr_scan',
  'sr_probe',
  'sr_gc',
  'blockdev_create',
  'blockdev_remove',
  'blockdev_grow',
  'blockdev_snapshot',
  'blockdev_convert',
  'blockdev_find',
  'blockdev_getdimensions',
  'blockdev_import_file',
  'blockdev_export_file',
];
