// The live-migration part of the host contract (issue 15), after Ganeti's node daemon
// (accept_instance, migrate_instance, instance_get_migration_status, finalize_migration_dst/src,
// abort): the manager drives both ends, the bytes go QEMU to QEMU.
//
//   const inc = await dst.instance_migration_accept(spec, { address: dstAddress, mirror: [] });
//   await src.instance_migrate(spec.uuid, inc, params);
//   while (!done(await src.instance_migration_status(uuid))) …          // progress on the task
//   await dst.instance_migration_finish_dst(uuid, ok); await src.instance_migration_finish_src(uuid, ok);
//
// The stream is never plain TCP on an open port: between hosts both QEMUs use TLS with
// credentials the destination makes for the one migration (IncomingMigration.tls, handed to the
// source through the manager's authenticated channels; each end verifies the other against that
// migration's own CA); a migration to the same host goes over a Unix socket in the agent's run
// directory. Disks on storage the destination cannot reach are mirrored
// first (QEMU block mirroring into the destination QEMU's NBD server, over the same TLS), then
// memory follows, as libvirt's "NBD storage migration" does.
import type { InstanceInfo, InstanceSpec } from '../noded/instance.js';

/** A disk the destination receives by mirroring (its spec's path is the new, empty volume). */
export interface MirrorDisk {
  /** The disk's device in both specs (`vbd-<device>` in QEMU). */
  device: string;
}

export interface AcceptOptions {
  /**
   * The destination host's address the source connects to (its management address). Empty for a
   * migration within one host (a Unix socket then).
   */
  address: string;
  /** Disks the source mirrors into this QEMU before memory moves (empty: shared storage). */
  mirror: MirrorDisk[];
}

/** Where a destination QEMU waits for the stream (returned by instance_migration_accept). */
export interface IncomingMigration {
  /** `tls`: TCP to address:port with this migration's certificates; `unix`: a socket on one host. */
  transport: 'tls' | 'unix';
  address: string;
  port: number;
  /** The Unix socket (transport 'unix'). */
  socket?: string;
  /**
   * Transport 'tls': credentials the destination made for this one migration (a throwaway CA and a
   * certificate it signed for the destination's address, usable by both ends). The source
   * presents `cert`/`key` and trusts `ca`; the destination trusts only `ca`. The hosts' own pool
   * keys never reach a QEMU. A secret: never logged, kept only in the VMs' runtime dirs.
   */
  tls?: { ca: string; cert: string; key: string };
  /** The destination's NBD server for mirrored disks (same transport and TLS), one export per disk. */
  nbd?: { address: string; port: number; socket?: string; exports: Record<string, string> };
}

export interface MigrationParams {
  /** false: the guest is paused for the whole copy (xapi's `live=false`). */
  live: boolean;
  /** Target for the final stop-and-copy, milliseconds (QEMU downtime-limit). */
  downtimeMs: number;
  /** Bytes per second; 0 is no limit. */
  bandwidth: number;
}

export type MigrationPhase =
  | 'none'
  | 'mirroring' // disks being copied to the destination (storage migration)
  | 'setup'
  | 'active' // memory being copied
  | 'device' // the final stop-and-copy
  | 'completed'
  | 'failed'
  | 'cancelled';

export interface MigrationStatus {
  phase: MigrationPhase;
  /** 0..1 over the whole migration (disks then memory). */
  progress: number;
  ramTotal: number;
  ramTransferred: number;
  ramRemaining: number;
  /** Disk bytes mirrored so far and in all (0 without mirroring). */
  diskTransferred: number;
  diskTotal: number;
  /** QEMU's own figures once completed: the downtime and total time, milliseconds. */
  downtimeMs?: number;
  totalTimeMs?: number;
  /** Why it failed (QEMU's error-desc, or what the agent saw). */
  error?: string;
}

export interface MigrationProcedures {
  /**
   * Destination: starts QEMU for `spec` (the same hardware as the source's: devices, ids, MACs)
   * waiting for an incoming migration, TAPs on the destination's bridges, mirrored disks served
   * over NBD. HOST_NOT_ENOUGH_FREE_MEMORY, VM_BAD_POWER_STATE if the VM already runs here.
   */
  instance_migration_accept(spec: InstanceSpec, opts: AcceptOptions): Promise<IncomingMigration>;
  /**
   * Source: starts the migration to `target` and returns (mirroring, then memory). Progress and
   * the end through instance_migration_status.
   */
  instance_migrate(uuid: string, target: IncomingMigration, params: MigrationParams): Promise<void>;
  /** Source (or destination): how far the migration of `uuid` is. */
  instance_migration_status(uuid: string): Promise<MigrationStatus>;
  /** Source: cancels a running migration; the guest keeps running here. */
  instance_migration_abort(uuid: string): Promise<void>;
  /**
   * Destination, at the end: success → the guest runs here (QEMU `cont`, the agent owns it as its
   * own VM); failure → its QEMU is killed and its files removed. Idempotent.
   */
  instance_migration_finish_dst(uuid: string, success: boolean): Promise<InstanceInfo>;
  /**
   * Source, at the end: success → QEMU is stopped and its TAPs and files removed; failure → the guest
   * runs on here (`cont` if the migration left it paused). Idempotent.
   */
  instance_migration_finish_src(uuid: string, success: boolean): Promise<void>;
  /**
   * One disk of a running VM moves to another volume on this host (VDI.pool_migrate within a host):
   * QEMU mirrors into `target` (an existing, empty volume of the same size) and switches to it when
   * in sync. Resolves once the guest uses the new volume.
   */
  instance_disk_mirror(
    uuid: string,
    device: string,
    target: { path: string; format: 'qcow2' | 'raw' },
  ): Promise<void>;
}

export type MigrationProcedureName = keyof MigrationProcedures;

export const MIGRATION_PROCEDURES = [
  'instance_migration_accept',
  'instance_migrate',
  'instance_migration_status',
  'instance_migration_abort',
  'instance_migration_finish_dst',
  'instance_migration_finish_src',
  'instance_disk_mirror',
] as const satisfies readonly MigrationProcedureName[];

type Unlisted = Exclude<MigrationProcedureName, (typeof MIGRATION_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** The migration procedures over an agent RPC `call` (the manager's client of a host's agent). */
export function migrationClient(
  call: (procedure: string, args: unknown[]) => Promise<unknown>,
): MigrationProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of MIGRATION_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as MigrationProcedures;
}

/** Ports destination QEMUs listen on for incoming migrations and mirroring (libvirt's range). */
export const MIGRATION_PORTS = { first: 49152, last: 49215 } as const;
