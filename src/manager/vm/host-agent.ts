// What the manager needs from a host agent to run VMs. The production implementation speaks
// the agent's noded-style RPC (hosts/host-client.ts); the interface keeps VM operations testable and
// leaves room for remote agents in multi-host pools.

import type { CbtProcedures } from '../../shared/host/cbt.js';
import type { MigrationProcedures } from '../../shared/host/migration.js';
import type { DataPlaneProcedures } from '../../shared/host/data-plane.js';
import type { NetworkProcedures } from '../../shared/host/network.js';
import type { DevicePluginProcedures } from '../../shared/host/device-plugins.js';
import type { MasterIpProcedures } from '../../shared/host/master-ip.js';
import type { StorageDirProcedures } from '../../shared/host/storage-dir.js';
import type { NodeStorageProcedures } from '../../shared/host/node-storage.js';
import type { HooksProcedures } from '../../shared/host/hooks.js';
import type { HostOpsProcedures } from '../../shared/host/host-ops.js';
import type { OsProcedures } from '../../shared/host/os.js';
import type { StatsProcedures } from '../../shared/host/stats.js';
import type { StorageProcedures } from '../../shared/host/storage.js';
import type {
  DiskSnapshotOptions,
  DiskSnapshotRequest,
  DiskSnapshotResult,
} from '../../shared/noded/disk-snapshot.js';
import type { InstanceEvent, InstanceInfo, InstanceSpec } from '../../shared/noded/instance.js';
import type { PoolCredentials } from '../../shared/pki/pool-pki.js';

export type {
  InstanceEvent,
  InstanceInfo,
  InstanceSpec,
  InstanceState,
} from '../../shared/noded/instance.js';

/** A host's clock: UTC and its local time zone's offset east of UTC (the agent's host_time). */
export interface HostTime {
  utc: string;
  offset_minutes: number;
}

/** A host's agent: its VMs, plugins, (StorageProcedures) storage and (DataPlaneProcedures) NBD exports. */
export interface HostAgent extends StorageProcedures, DataPlaneProcedures {
  readonly connected: boolean;
  version(): Promise<unknown>;
  /** Installs the pool's CA and this host's certificate (local agent only: its Unix socket). */
  tlsInstall?(creds: PoolCredentials): Promise<unknown>;
  start(spec: InstanceSpec): Promise<InstanceInfo>;
  /** Clean (ACPI) or hard shutdown; clean gives up after timeoutMs with VM_SHUTDOWN_TIMEOUT-like errors. */
  shutdown(uuid: string, clean: boolean, timeoutMs: number): Promise<unknown>;
  reboot(uuid: string, clean: boolean, timeoutMs: number): Promise<unknown>;
  pause(uuid: string): Promise<unknown>;
  unpause(uuid: string): Promise<unknown>;
  suspend(uuid: string, path: string): Promise<unknown>;
  resume(spec: InstanceSpec, path: string): Promise<InstanceInfo>;
  balloon(uuid: string, bytes: number): Promise<unknown>;
  /** Live snapshot of disks of a running VM (instance_snapshot_disks); absent in test stand-ins. */
  snapshotDisks?(
    uuid: string,
    disks: DiskSnapshotRequest[],
    options: DiskSnapshotOptions,
  ): Promise<DiskSnapshotResult>;
  info(uuid: string): Promise<InstanceInfo>;
  all(): Promise<InstanceInfo[]>;
  callPlugin(plugin: string, fn: string, args: Record<string, string>): Promise<string>;
  /** The host's clock (host.get_servertime of a member); absent in in-process test agents. */
  hostTime?(): Promise<HostTime>;
  /** The host's networking: bridges, TAPs, PIFs, VLANs, bonds (src/shared/host/network.ts). */
  readonly network: NetworkProcedures;
  /** Changed-block tracking on its disks' qcow2 bitmaps (src/shared/host/cbt.ts). */
  readonly cbt: CbtProcedures;
  /** Live migration and disk mirroring (src/shared/host/migration.ts). */
  readonly migration: MigrationProcedures;
  /** The host's round-robin databases of statistics (src/shared/host/stats.ts). */
  readonly stats: StatsProcedures;
  /** The host's storage device plugins and their sessions (src/shared/host/device-plugins.ts). */
  readonly devicePlugins: DevicePluginProcedures;
  /** Ganeti's remaining block-device, storage-unit and misc procedures (src/shared/host/node-storage.ts). */
  readonly nodeStorage: NodeStorageProcedures;
  /** The host's site hooks and iallocators (src/shared/host/hooks.ts). */
  readonly hooks: HooksProcedures;
  /** Host operations (issue 18): verify, OOB power, restricted commands, uploads (docs/host-operations.md). */
  readonly hostOps: HostOpsProcedures;
  /** The host's OS definitions and their scripts (src/shared/host/os.ts). */
  readonly os: OsProcedures;
  /** The pool's floating management address on this host (src/shared/host/master-ip.ts). */
  readonly masterIp: MasterIpProcedures;
  /** Ganeti's file_storage_dir_rename: a file SR's directory moved (src/shared/host/storage-dir.ts). */
  readonly storageDir: StorageDirProcedures;
  /** State changes pushed by the agent; `reconnected` fires after every (re)connection. */
  onEvent(listener: (e: InstanceEvent) => void): void;
  onReconnect(listener: () => void): void;
  close(): void;
}
