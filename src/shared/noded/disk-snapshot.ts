// Live snapshots of a running VM's disks (the host-contract procedure `instance_snapshot_disks`):
// what the manager asks of the agent of the VM's host and what it gets back. The agent makes
// every disk's current image the frozen snapshot and moves QEMU onto a new overlay in one QMP
// `transaction` (atomic across disks: crash-consistent), optionally saving the VM's memory at
// the same instant (VM.checkpoint). docs/data-plane.md, "Live snapshots".
import type { SrConfig, Volume } from '../host/storage.js';

/** One disk of the VM to snapshot. */
export interface DiskSnapshotRequest {
  /** The VBD's device as QEMU knows it (the disk spec's `device`: "xvda", …). */
  device: string;
  /** The SR holding the disk (attached on the VM's host). */
  sr: SrConfig;
  /** The running VDI's location: it keeps it (and its uuid); the snapshot gets `newUuid`. */
  location: string;
  /** Location/uuid of the new snapshot volume. */
  newUuid: string;
  /**
   * Changed-block tracking (src/manager/storage/cbt.ts liveCbtCarry): the generations whose
   * bitmaps move onto the new overlay in the same transaction (frozen on the old layer, which
   * the snapshot's image then copies), and the new generation (`newUuid`) started there.
   */
  cbt?: { keep: string[]; generation: string };
}

export interface DiskSnapshotOptions {
  /**
   * Also save the VM's memory and device state into this host file (a checkpoint): vCPUs stop,
   * the disks are snapshotted, the state is written, the guest runs again.
   */
  memoryPath?: string;
}

export interface DiskSnapshotResult {
  /** The new snapshot volumes, in request order (the frozen content). */
  volumes: Volume[];
  /** How long QEMU's QMP `transaction` took: the time guest I/O was held (drained). */
  transactionMs: number;
  /** How long the vCPUs were stopped (0 for a disk-only snapshot). */
  vcpuPauseMs: number;
}

/** The procedure's name on the agent RPC. */
export const DISK_SNAPSHOT_PROCEDURE = 'instance_snapshot_disks';
