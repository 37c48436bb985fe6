// What the manager needs from a host to manage storage. The in-process implementation calls the
// agent's storage procedures directly; a remote one will send the same calls (same names, same
// JSON arguments) over the agent RPC. Every host path in a call is checked by the agent against
// its allowed roots, so a manager bug or a hostile device_config cannot reach outside them.
import { XenApiError } from '../../shared/errors.js';
import * as proc from '../../agent/storage/procedures.js';
import type {
  DriverContext,
  DriverInfo,
  ProbeEntry,
  Repairs,
  SrConfig,
  SrStats,
  Volume,
} from '../../agent/storage/types.js';
import type { Services } from '../api/context.js';

export type { DriverInfo, ProbeEntry, Repairs, SrConfig, SrStats, Volume };

export interface StorageAgent {
  drivers(): DriverInfo[];
  /** Checks device_config (paths within the allowed roots, devices exist…) without acting. */
  validate(type: string, deviceConfig: Record<string, string>): Promise<void>;
  srCreate(sr: SrConfig): Promise<SrStats>;
  srDestroy(sr: SrConfig): Promise<void>;
  /** Makes the SR usable and repairs what interrupted operations left behind. */
  srAttach(sr: SrConfig): Promise<Repairs>;
  srDetach(sr: SrConfig): Promise<void>;
  srStats(sr: SrConfig): Promise<SrStats>;
  srScan(sr: SrConfig): Promise<{ stats: SrStats; volumes: Volume[] }>;
  srProbe(type: string, deviceConfig: Record<string, string>): Promise<ProbeEntry[]>;
  /** Deletes unreferenced internal volumes and coalesces single-child bases (not of `busy`). */
  srGc(sr: SrConfig, busy: string[]): Promise<string[]>;
  vdiCreate(sr: SrConfig, uuid: string, size: number): Promise<Volume>;
  vdiDestroy(sr: SrConfig, location: string): Promise<void>;
  vdiResize(sr: SrConfig, location: string, size: number): Promise<Volume>;
  vdiClone(sr: SrConfig, location: string, newUuid: string): Promise<Volume>;
  vdiSnapshot(sr: SrConfig, location: string, newUuid: string): Promise<Volume>;
  vdiCopy(src: SrConfig, location: string, dst: SrConfig, newUuid: string): Promise<Volume>;
  vdiFind(sr: SrConfig, location: string): Promise<Volume | null>;
  /** A new volume with a host file's bytes (suspend images); the file is under the file roots. */
  vdiImportFile(sr: SrConfig, newUuid: string, path: string): Promise<Volume>;
  /** A volume's bytes into a raw host file under the file roots, cut to `bytes`. */
  vdiExportFile(sr: SrConfig, location: string, path: string, bytes?: number): Promise<void>;
}

/** Calls the storage procedures of this host directly. */
export class InProcessStorageAgent implements StorageAgent {
  constructor(readonly ctx: DriverContext) {}
  drivers = () => proc.driverInfos();
  validate = async (type: string, dc: Record<string, string>) => proc.driverFor(type).validate(dc, this.ctx);
  srCreate = (sr: SrConfig) => proc.sr_create(this.ctx, sr);
  srDestroy = (sr: SrConfig) => proc.sr_destroy(this.ctx, sr);
  srAttach = (sr: SrConfig) => proc.sr_attach(this.ctx, sr);
  srDetach = (sr: SrConfig) => proc.sr_detach(this.ctx, sr);
  srStats = (sr: SrConfig) => proc.sr_stats(this.ctx, sr);
  srScan = (sr: SrConfig) => proc.sr_scan(this.ctx, sr);
  srProbe = (type: string, dc: Record<string, string>) => proc.sr_probe(this.ctx, type, dc);
  srGc = (sr: SrConfig, busy: string[]) => proc.sr_gc(this.ctx, sr, busy);
  vdiCreate = (sr: SrConfig, uuid: string, size: number) => proc.blockdev_create(this.ctx, sr, uuid, size);
  vdiDestroy = (sr: SrConfig, location: string) => proc.blockdev_remove(this.ctx, sr, location);
  vdiResize = (sr: SrConfig, location: string, size: number) =>
    proc.blockdev_grow(this.ctx, sr, location, size);
  vdiClone = (sr: SrConfig, location: string, newUuid: string) =>
    proc.blockdev_snapshot(this.ctx, sr, location, newUuid);
  vdiSnapshot = (sr: SrConfig, location: string, newUuid: string) =>
    proc.blockdev_snapshot(this.ctx, sr, location, newUuid);
  vdiCopy = (src: SrConfig, location: string, dst: SrConfig, newUuid: string) =>
    proc.blockdev_convert(this.ctx, src, location, dst, newUuid);
  vdiFind = (sr: SrConfig, location: string) => proc.blockdev_find(this.ctx, sr, location);
  vdiImportFile = (sr: SrConfig, newUuid: string, path: string) =>
    proc.blockdev_import_file(this.ctx, sr, newUuid, path);
  vdiExportFile = (sr: SrConfig, location: string, path: string, bytes?: number) =>
    proc.blockdev_export_file(this.ctx, sr, location, path, bytes);
}

/** The storage agent attached to the manager (svc.ext.storage), or CANNOT_CONTACT_HOST. */
export function storageOf(svc: Services): StorageAgent {
  const s = svc.ext.storage as StorageAgent | undefined;
  if (!s) throw new XenApiError('CANNOT_CONTACT_HOST', [svc.hostRef()]);
  return s;
}
