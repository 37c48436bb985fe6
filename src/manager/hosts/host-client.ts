// The manager's view of a host agent (HostAgent) over the shared agent RPC client
// (src/shared/noded/client.ts): procedure calls, pushed instance events, and a reconnect hook
// after which the manager reconciles.
import { cbtClient } from '../../shared/host/cbt.js';
import type { DataPlaneProcedures, NbdExport, NbdOpenOptions } from '../../shared/host/data-plane.js';
import { devicePluginClient } from '../../shared/host/device-plugins.js';
import { hooksClient } from '../../shared/host/hooks.js';
import { hostOpsClient } from '../../shared/host/host-ops.js';
import { migrationClient } from '../../shared/host/migration.js';
import { masterIpClient } from '../../shared/host/master-ip.js';
import { storageDirClient } from '../../shared/host/storage-dir.js';
import { nodeStorageClient } from '../../shared/host/node-storage.js';
import { networkClient } from '../../shared/host/network.js';
import { osClient } from '../../shared/host/os.js';
import { statsClient } from '../../shared/host/stats.js';
import type {
  DriverInfo,
  ProbeEntry,
  Repairs,
  SrConfig,
  SrScan,
  SrStats,
  StorageProcedures,
  Volume,
} from '../../shared/host/storage.js';
import { AgentClient } from '../../shared/noded/client.js';
import {
  DISK_SNAPSHOT_PROCEDURE,
  type DiskSnapshotOptions,
  type DiskSnapshotRequest,
  type DiskSnapshotResult,
} from '../../shared/noded/disk-snapshot.js';
import type { PoolCredentials } from '../../shared/pki/pool-pki.js';
import type { DiskSpec, NicSpec } from '../../shared/noded/instance.js';
import type { BlockHotplug } from '../api/vbd.js';
import type { NicHotplug } from '../network/host-network.js';
import type { HostAgent, HostTime, InstanceEvent } from '../vm/host-agent.js';

/** How long an unplug waits for the guest to release the device. */
const UNPLUG_TIMEOUT_MS = Number(process.env.BERTH_UNPLUG_TIMEOUT_MS ?? 30_000);

export class NodedAgentClient
  extends AgentClient
  implements HostAgent, BlockHotplug, NicHotplug, StorageProcedures, DataPlaneProcedures
{
  /** The agent's networking procedures, over the same RPC. */
  readonly network = networkClient((procedure, args) => this.call(procedure, args));
  /** The agent's changed-block-tracking procedures (src/shared/host/cbt.ts). */
  readonly cbt = cbtClient((procedure, args) => this.call(procedure, args));
  /** The agent's live-migration procedures (src/shared/host/migration.ts). */
  readonly migration = migrationClient((procedure, args) => this.call(procedure, args));
  /** The agent's statistics procedures (src/shared/host/stats.ts). */
  readonly stats = statsClient((procedure, args) => this.call(procedure, args));
  /** The agent's device plugin procedures (src/shared/host/device-plugins.ts). */
  readonly devicePlugins = devicePluginClient((procedure, args) => this.call(procedure, args));
  /** The agent's node-storage procedures (src/shared/host/node-storage.ts). */
  readonly nodeStorage = nodeStorageClient((procedure, args, timeoutMs) =>
    this.call(procedure, args, timeoutMs),
  );
  /** The agent's site hooks and iallocators (src/shared/host/hooks.ts). */
  readonly hooks = hooksClient((procedure, args) => this.call(procedure, args));
  readonly hostOps = hostOpsClient((procedure, args) => this.call(procedure, args));
  /** The agent's OS definition procedures (src/shared/host/os.ts). */
  readonly os = osClient((procedure, args) => this.call(procedure, args));
  /** The agent's master IP procedures (src/shared/host/master-ip.ts). */
  readonly masterIp = masterIpClient((procedure, args) => this.call(procedure, args));
  /** The agent's file SR directory move (src/shared/host/storage-dir.ts). */
  readonly storageDir = storageDirClient((procedure, args) => this.call(procedure, args));

  /** tls_install: the pool's CA and this host's certificate for the agent's TCP listener. */
  tlsInstall(creds: PoolCredentials) {
    return this.call<{ host_uuid: string; tcp_port: number | null }>('tls_install', [creds]);
  }

  /** instance_snapshot_disks: a live snapshot of disks of a running VM. */
  snapshotDisks(uuid: string, disks: DiskSnapshotRequest[], options: DiskSnapshotOptions) {
    return this.call<DiskSnapshotResult>(DISK_SNAPSHOT_PROCEDURE, [uuid, disks, options]);
  }

  /** host_time: the host's clock. */
  hostTime() {
    return this.call<HostTime>('host_time', []);
  }

  /** Opens the push channel (reconnecting with backoff for as long as the manager runs). */
  connect() {
    this.watch();
  }

  onEvent(listener: (e: InstanceEvent) => void) {
    this.on('event', listener);
  }

  onReconnect(listener: () => void) {
    this.on('connect', listener);
  }

  // Hot-plug hooks of VBD.plug/unplug/insert/eject and VIF.plug/unplug (agent's hotplug_device).
  async blockAttach(vmUuid: string, disk: DiskSpec) {
    await this.hotplug(vmUuid, 'hotadd', 'disk', disk);
  }
  async blockDetach(vmUuid: string, device: string, _force: boolean) {
    await this.hotplug(vmUuid, 'hotremove', 'disk', { device } as DiskSpec, UNPLUG_TIMEOUT_MS);
  }
  async blockMedia(vmUuid: string, device: string, media: { path: string; format: string } | null) {
    const disk: DiskSpec = {
      device,
      path: media?.path ?? '',
      format: media?.format === 'qcow2' ? 'qcow2' : 'raw',
      readonly: true,
      cdrom: true,
    };
    await this.hotplug(vmUuid, 'hotmod', 'disk', disk);
  }
  async blockResize(vmUuid: string, device: string, size: number) {
    await this.diskResize(vmUuid, device, size);
  }
  async nicAttach(vmUuid: string, nic: NicSpec) {
    await this.hotplug(vmUuid, 'hotadd', 'nic', nic);
  }
  async nicDetach(vmUuid: string, device: string) {
    await this.hotplug(vmUuid, 'hotremove', 'nic', { device } as NicSpec, UNPLUG_TIMEOUT_MS);
  }

  // Storage procedures (src/shared/host/storage.ts): same names and arguments as the agent's.
  storage_drivers() {
    return this.call<DriverInfo[]>('storage_drivers');
  }
  async storage_validate(type: string, deviceConfig: Record<string, string>) {
    await this.call('storage_validate', [type, deviceConfig]);
  }
  sr_create(sr: SrConfig) {
    return this.call<SrStats>('sr_create', [sr]);
  }
  async sr_destroy(sr: SrConfig) {
    await this.call('sr_destroy', [sr]);
  }
  sr_attach(sr: SrConfig) {
    return this.call<Repairs>('sr_attach', [sr]);
  }
  async sr_detach(sr: SrConfig) {
    await this.call('sr_detach', [sr]);
  }
  sr_stats(sr: SrConfig) {
    return this.call<SrStats>('sr_stats', [sr]);
  }
  sr_scan(sr: SrConfig) {
    return this.call<SrScan>('sr_scan', [sr]);
  }
  sr_probe(type: string, deviceConfig: Record<string, string>) {
    return this.call<ProbeEntry[]>('sr_probe', [type, deviceConfig]);
  }
  sr_gc(sr: SrConfig, busy: string[]) {
    return this.call<string[]>('sr_gc', [sr, busy]);
  }
  blockdev_create(sr: SrConfig, uuid: string, size: number) {
    return this.call<Volume>('blockdev_create', [sr, uuid, size]);
  }
  async blockdev_remove(sr: SrConfig, location: string) {
    await this.call('blockdev_remove', [sr, location]);
  }
  blockdev_grow(sr: SrConfig, location: string, size: number) {
    return this.call<Volume>('blockdev_grow', [sr, location, size]);
  }
  blockdev_snapshot(sr: SrConfig, location: string, newUuid: string) {
    return this.call<Volume>('blockdev_snapshot', [sr, location, newUuid]);
  }
  blockdev_convert(src: SrConfig, location: string, dst: SrConfig, newUuid: string) {
    return this.call<Volume>('blockdev_convert', [src, location, dst, newUuid]);
  }
  blockdev_find(sr: SrConfig, location: string) {
    return this.call<Volume | null>('blockdev_find', [sr, location]);
  }
  blockdev_getdimensions(sr: SrConfig, locations: string[]) {
    return this.call<(number | null)[]>('blockdev_getdimensions', [sr, locations]);
  }
  blockdev_import_file(sr: SrConfig, newUuid: string, path: string) {
    return this.call<Volume>('blockdev_import_file', [sr, newUuid, path]);
  }
  async blockdev_export_file(sr: SrConfig, location: string, path: string, bytes?: number) {
    await this.call(
      'blockdev_export_file',
      bytes === undefined ? [sr, location, path] : [sr, location, path, bytes],
    );
  }

  // Data-plane procedures (src/shared/host/data-plane.ts): NBD exports of volumes.
  blockdev_nbd_open(sr: SrConfig, location: string, opts: NbdOpenOptions) {
    return this.call<NbdExport>('blockdev_nbd_open', [sr, location, opts]);
  }
  instance_nbd_open(uuid: string, device: string, opts: { bitmap?: string }) {
    return this.call<NbdExport>('instance_nbd_open', [uuid, device, opts]);
  }
  async blockdev_nbd_close(id: string) {
    await this.call('blockdev_nbd_close', [id]);
  }
  blockdev_nbd_list() {
    return this.call<NbdExport[]>('blockdev_nbd_list', []);
  }
}
