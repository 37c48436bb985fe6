// What every SR driver (file, iso, lvm) offers the storage procedures. Drivers work on plain
// descriptions (no database): the SR's uuid, type and device_config, and volume locations.
import type {
  DriverInfo,
  ImageFormat,
  ProbeEntry,
  Repairs,
  SrConfig,
  SrStats,
  Volume,
} from '../../shared/host/storage.js';
import type { ExtContext } from './ext-provider.js';

// The wire types are the host contract's (src/shared/host/storage.ts).
export type { DriverInfo, ProbeEntry, Repairs, SrConfig, SrStats, Volume };

export interface PreparedSnapshot {
  /** The image QEMU is to open as the disk's new top (commit gives it the leaf's name). */
  overlay: string;
  /** The disk's path as QEMU was given it (the VDI's, unchanged by the snapshot). */
  leaf: string;
  /** The image that becomes the frozen snapshot content once QEMU has moved. */
  frozen: string;
  commit(): Promise<Volume>;
  abort(): Promise<void>;
}

export interface DriverContext {
  /** Host paths a driver may create or open. */
  allowedRoots: readonly string[];
  /** Where this host keeps per-SR state (intent journals). */
  stateDir: string;
  /** Where plain files (suspend images) moved into or out of volumes may live. */
  fileRoots?: readonly string[];
  /** Where network SRs (nfs) are mounted, one directory per SR uuid (xapi: /run/sr-mount). */
  srMountDir?: string;
  /** ExtStorage providers: allow-listed directories, run logs, time limits (ext SRs). */
  ext?: ExtContext;
}

export interface SrDriver {
  readonly info: DriverInfo;
  /** Throws INVALID_VALUE / SR_BACKEND_FAILURE for bad device_config. */
  validate(dc: Record<string, string>, ctx: DriverContext): void;
  create(sr: SrConfig, ctx: DriverContext): Promise<void>;
  destroy(sr: SrConfig, ctx: DriverContext): Promise<void>;
  attach(sr: SrConfig, ctx: DriverContext): Promise<Repairs>;
  detach(sr: SrConfig, ctx: DriverContext): Promise<void>;
  stats(sr: SrConfig, ctx: DriverContext): Promise<SrStats>;
  scan(sr: SrConfig, ctx: DriverContext): Promise<Volume[]>;
  probe(dc: Record<string, string>, ctx: DriverContext): Promise<ProbeEntry[]>;
  volume(sr: SrConfig, location: string, ctx: DriverContext): Promise<Volume | undefined>;
  vdiCreate(sr: SrConfig, uuid: string, size: number, ctx: DriverContext): Promise<Volume>;
  vdiDestroy(sr: SrConfig, location: string, ctx: DriverContext): Promise<void>;
  vdiResize(sr: SrConfig, location: string, size: number, ctx: DriverContext): Promise<Volume>;
  /** A new volume with the same content (thin where possible); the source stays usable. */
  vdiClone(sr: SrConfig, location: string, newUuid: string, ctx: DriverContext): Promise<Volume>;
  /**
   * First half of a live snapshot of a disk a running QEMU writes (absent: not supported, as on
   * raw LVs): `overlay` is a new empty image over the current one, ready for QEMU to move onto;
   * `commit` (after QEMU moved) makes the snapshot volume, `abort` (if it did not) undoes it all.
   */
  liveSnapshot?(
    sr: SrConfig,
    location: string,
    newUuid: string,
    ctx: DriverContext,
  ): Promise<PreparedSnapshot>;
  /**
   * Runs `work` while the volume's path can be opened (absent: it always can). ExtStorage
   * volumes exist as block devices only while attached: attached for the work if no VM has them.
   */
  whileOpen?<T>(sr: SrConfig, location: string, ctx: DriverContext, work: () => Promise<T>): Promise<T>;
  /** A new volume filled from any image on this host (VDI.copy's target side). */
  vdiImport(
    sr: SrConfig,
    newUuid: string,
    src: { path: string; format: ImageFormat; virtualSize: number },
    ctx: DriverContext,
  ): Promise<Volume>;
  /** Bytes a new, empty volume of `size` takes (for SR_FULL): all of it when thick. */
  newVolumeSize(size: number): Promise<number>;
  /** Bytes growing a volume's virtual size from `from` to `to` takes (for SR_FULL). */
  growSize(from: number, to: number): Promise<number>;
  /** Bytes needed to import `src` (for SR_FULL). */
  importSize(src: { path: string; format: ImageFormat; virtualSize: number }): Promise<number>;
  /** Garbage-collects internal volumes (unreferenced bases); `busy` locations are left alone. */
  gc(sr: SrConfig, busy: readonly string[], ctx: DriverContext): Promise<string[]>;
}
