// The data-plane part of the host contract: how a volume's bytes leave and enter a host. The agent
// serves a volume as an NBD export on a private Unix socket in its run directory
// (qemu-storage-daemon for a volume no VM holds); the manager on the same host connects with the
// NBD client (src/shared/nbd/) and closes the export when done. The agent ends every export it
// made when it stops and removes leftovers of earlier runs when it starts.
//
//   const x = await host.blockdev_nbd_open(sr, vdi.location, { readOnly: true, bitmap: 'cbt-…' });
//   const c = await connectNbd({ socket: x.socket }, { exportName: x.exportName,
//                                                       metaContexts: x.metaContexts });
//   … readStream(c) / extents(c, dirtyBitmapContext('cbt-…')) …
//   await c.disconnect(); await host.blockdev_nbd_close(x.id);
import type { SrConfig } from './storage.js';

export interface NbdOpenOptions {
  /** Read-only exports share the image with other users (a running VM's backing file, a snapshot). */
  readOnly: boolean;
  /** A persistent dirty bitmap of the image to expose as the `qemu:dirty-bitmap:<name>` context. */
  bitmap?: string;
}

/** An open export: where to connect and what it serves. */
export interface NbdExport {
  /** Names the export in blockdev_nbd_close. */
  id: string;
  /** Unix socket path of the NBD server (on the agent's host). */
  socket: string;
  /** The export name for NBD_OPT_GO. */
  exportName: string;
  /** Virtual size in bytes. */
  size: number;
  readOnly: boolean;
  /** Meta contexts the export offers (base:allocation, qemu:allocation-depth, the bitmap's). */
  metaContexts: string[];
}

/** The data-plane procedures of a host agent, one method per RPC procedure of the same name. */
export interface DataPlaneProcedures {
  /** Serves a volume no VM holds (or only reads) over NBD on a private Unix socket. */
  blockdev_nbd_open(sr: SrConfig, location: string, opts: NbdOpenOptions): Promise<NbdExport>;
  /**
   * Serves a disk of a running VM (its `device`, as in the instance spec) read-only through the
   * VM's own QEMU. The bytes are live: the guest may write while they are read (export a snapshot
   * for a consistent image). A `bitmap` must be disabled (frozen, as at a snapshot): QEMU will not
   * export a bitmap the guest's writes still change (INVALID_VALUE ['bitmap', name, why]).
   */
  instance_nbd_open(uuid: string, device: string, opts: { bitmap?: string }): Promise<NbdExport>;
  /** Ends an export of either kind (its server or its QEMU export, its socket); an unknown id is not an error. */
  blockdev_nbd_close(id: string): Promise<void>;
  /** The exports open now. */
  blockdev_nbd_list(): Promise<NbdExport[]>;
}

export type DataPlaneProcedureName = keyof DataPlaneProcedures;

/** Every data-plane procedure (checked against the interface both ways). */
export const DATA_PLANE_PROCEDURES = [
  'blockdev_nbd_open',
  'instance_nbd_open',
  'blockdev_nbd_close',
  'blockdev_nbd_list',
] as const satisfies readonly DataPlaneProcedureName[];

// Compile-time: a procedure added to the interface but not to the list fails here.
type Unlisted = Exclude<DataPlaneProcedureName, (typeof DATA_PLANE_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** Bitmap names: what QEMU accepts and nothing a command line could misread. */
export const BITMAP_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
