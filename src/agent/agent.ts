// The host agent: its procedure table (Ganeti's names where they overlap) over the instance
// manager, host plugins and host facts, plus the networking procedures (network/procedures.ts),
// and the push of instance events to the manager.
import os from 'node:os';
import { join } from 'node:path';
import { XenApiError } from '../shared/errors.js';
import { run } from '../shared/exec.js';
import { cpuInfoMap, readHostFacts } from '../shared/host-facts.js';
import { logger } from '../shared/log.js';
import type {
  DiskSpec,
  HotplugAction,
  HotplugDevType,
  InstanceSpec,
  NicSpec,
} from '../shared/noded/instance.js';
import { PROTOCOL_VERSION } from '../shared/noded/protocol.js';
import { BERTH_VERSION } from '../shared/version.js';
import { DISK_SNAPSHOT_PROCEDURE } from '../shared/noded/disk-snapshot.js';
import { diskSnapshotArgs, snapshotDisks } from './disk-snapshot.js';
import { InstanceManager, type InstanceOptions } from './instances.js';
import { type NetworkProcedureOptions, networkProcedures } from './network/procedures.js';
import { callPlugin, listPlugins } from './plugins/index.js';
import { QEMU_BINARY } from './qemu/vm-process.js';
import { NbdExports } from './data-plane/exports.js';
import { InstanceExports } from './data-plane/instance-exports.js';
import { dataPlaneProcedures } from './data-plane/rpc.js';
import { migrationProcedures } from './migration/rpc.js';
import { diskMirrorProcedure } from './migration/disk-mirror-rpc.js';
import { AgentServer, type Procedure } from './server.js';
import { localTlsProcedures, startTcp } from './tls.js';
import type { LiveCbtOp } from './qemu/cbt-live.js';
import { cbtProcedures } from './storage/cbt.js';
import { type StorageOptions, storageContext, storageProcedures } from './storage/rpc.js';
import { DEFAULT_ARCHIVE_INTERVAL_MS, RrdArchive, startArchiving } from './stats/archive.js';
import { type StatsLoop, startStatsLoop } from './stats/loop.js';
import { statsProcedures } from './stats/rpc.js';
import type { Sampler } from './stats/sample.js';
import { agentSampler } from './stats/sample-all.js';
import { StatsStore } from './stats/store.js';
import { AttachedSrs } from './storage/attached.js';
import { extDiskAssembler } from './storage/ext-assembler.js';
import { type DevicePluginOptions, startDevicePlugins } from './storage-resources/index.js';
import type { DevicePluginRunner } from './storage-resources/runner.js';
import { devicePluginProcedures } from './storage-resources/rpc.js';
import { nodeStorageProcedures } from './node-storage/rpc.js';
import { hooksProcedures } from './hooks/rpc.js';
import type { HooksOptions } from './hooks/runner.js';
import { type HostOpsOptions, hostOpsConfig } from './host-ops/options.js';
import { hostOpsProcedures } from './host-ops/rpc.js';
import { DEFAULT_OS_TIMEOUT_MS, type OsOptions, osProcedures } from './os/rpc.js';
import type { MasterIpOptions } from './master-ip/address.js';
import { masterIpProcedures } from './master-ip/rpc.js';
import { storageDirProcedures } from './storage-dir/rpc.js';

const log = logger('agent');

let qemuVersion: Promise<string> | undefined;
/** `qemu-system-x86_64 --version`, first line (asked once). */
function readQemuVersion(): Promise<string> {
  qemuVersion ??= run(QEMU_BINARY, ['--version'], { timeoutMs: 10_000 })
    .then((r) => r.stdout.split('\n')[0].trim())
    .catch(() => 'unknown');
  return qemuVersion;
}

/** Non-loopback addresses of the host, by interface. */
function addresses(): { iface: string; family: string; address: string }[] {
  const out: { iface: string; family: string; address: string }[] = [];
  for (const [iface, list] of Object.entries(os.networkInterfaces()))
    for (const a of list ?? []) if (!a.internal) out.push({ iface, family: a.family, address: a.address });
  return out;
}

const str = (name: string, v: unknown): string => {
  if (typeof v !== 'string') throw new XenApiError('INVALID_VALUE', [name, JSON.stringify(v) ?? 'undefined']);
  return v;
};
const num = (name: string, v: unknown, dflt?: number): number => {
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
  } else if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  throw new XenApiError('INVALID_VALUE', [name, JSON.stringify(v) ?? 'undefined']);
};

export function procedures(vms: InstanceManager): Record<string, Procedure> {
  return {
    version: async () => ({
      protocol: PROTOCOL_VERSION,
      berth: BERTH_VERSION,
      accel: vms.opts.accel,
      qemu: await readQemuVersion(),
    }),
    node_info: () => {
      const f = readHostFacts();
      return {
        hostname: f.hostname,
        address: f.address,
        addresses: addresses(),
        memory_total: f.memoryTotal,
        memory_free: f.memoryFree,
        cpu_count: f.cpus.length,
        cpu_info: cpuInfoMap(f.cpus),
        cpus: f.cpus,
        kernel: f.kernel,
        accel: vms.opts.accel,
      };
    },
    instance_start: (spec: InstanceSpec) => vms.start(spec),
    instance_shutdown: (uuid: unknown, clean: unknown, timeoutMs: unknown) =>
      vms.shutdown(str('uuid', uuid), clean !== false, num('timeout', timeoutMs, 120_000)),
    instance_reboot: (uuid: unknown, clean: unknown, timeoutMs: unknown) =>
      vms.reboot(str('uuid', uuid), clean !== false, num('timeout', timeoutMs, 120_000)),
    instance_pause: (uuid: unknown) => vms.pause(str('uuid', uuid)),
    instance_unpause: (uuid: unknown) => vms.unpause(str('uuid', uuid)),
    instance_suspend: (uuid: unknown, path: unknown) => vms.suspend(str('uuid', uuid), str('path', path)),
    instance_resume: (spec: InstanceSpec, path: unknown) => vms.resume(spec, str('path', path)),
    instance_balloon_memory: (uuid: unknown, bytes: unknown) =>
      vms.balloon(str('uuid', uuid), num('memory', bytes)),
    // Ganeti: hotplug_device(instance, action, dev_type, device, extra, seq); Berth passes the
    // device spec and, for removals, how long to wait for the guest.
    hotplug_device: (uuid: unknown, action: unknown, devType: unknown, device: unknown, timeoutMs: unknown) =>
      vms.hotplug(
        str('uuid', uuid),
        str('action', action) as HotplugAction,
        str('dev_type', devType) as HotplugDevType,
        device as DiskSpec | NicSpec,
        num('timeout', timeoutMs, 30_000),
      ),
    instance_disk_resize: (uuid: unknown, device: unknown, size: unknown) =>
      vms.resizeDisk(str('uuid', uuid), str('device', device), num('size', size)),
    hotplug_supported: (uuid: unknown) => {
      const i = vms.info(str('uuid', uuid));
      if (i.state === 'absent') throw new XenApiError('VM_BAD_POWER_STATE', [i.uuid, 'running', 'halted']);
      return true;
    },
    instance_info: (uuid: unknown) => vms.info(str('uuid', uuid)),
    instance_list: () => vms.all().map((i) => i.uuid),
    all_instances_info: () => vms.all(),
    instance_console: (uuid: unknown) => {
      const i = vms.info(str('uuid', uuid));
      if (i.state === 'absent') throw new XenApiError('VM_BAD_POWER_STATE', [i.uuid, 'running', 'halted']);
      return { vnc: i.vncSocket, vncPort: i.vncPort, serial: i.serialSocket, log: i.consoleLog };
    },
    host_call_plugin: (plugin: unknown, fn: unknown, args: unknown) =>
      callPlugin(
        str('plugin', plugin),
        str('fn', fn),
        args && typeof args === 'object' ? (args as Record<string, string>) : {},
      ),
    host_list_plugins: () => listPlugins(),
    // host.get_servertime / get_server_localtime of this host: its clock and its time zone's offset.
    host_time: () => {
      const now = new Date();
      return { utc: now.toISOString(), offset_minutes: -now.getTimezoneOffset() || 0 };
    },
  };
}

export interface AgentOptions extends InstanceOptions {
  socketPath: string;
  /** Pool certificates (pool-pki.ts layout); tls_install writes here. */
  pkiDir?: string;
  /** TCP listener for the pool master on another host (mutual TLS, pkiDir's certificates). */
  tcp?: { host: string; port: number };
  /** The host's networking (tests: a network namespace, veths as NICs). */
  network?: NetworkProcedureOptions;
  /** This host's storage roots (defaults under the first state root). */
  storage?: StorageOptions;
  /** Statistics (issue 16): RRDs sampled every 5 s, archived under `<first state root>/rrd`. */
  stats?: StatsOptions;
  /** Storage device plugins (issue 17; default: the built-in `linux` one); false: none. */
  devicePlugins?: DevicePluginOptions | false;
  /** Site hooks and iallocators (issue 18; docs/hooks.md): their allow-listed dirs, time limits. */
  hooks?: HooksOptions;
  /** Host operations (issue 18): allow-lists and commands (docs/host-operations.md). */
  hostOps?: HostOpsOptions;
  /** OS definitions (issue 18): search paths, log and work dirs, time limit (docs/os-definitions.md). */
  os?: Partial<OsOptions>;
  /** The floating master IP (issue 18): devices besides Berth bridges allowed, arping program. */
  masterIp?: Omit<MasterIpOptions, 'netns'>;
}

/** The OS options with their defaults: /srv/berth/os then STATE-ROOT/os, logs in LOG-ROOT/os. */
export function osOptions(opts: AgentOptions): OsOptions {
  return {
    searchPaths: opts.os?.searchPaths?.length
      ? opts.os.searchPaths
      : ['/srv/berth/os', join(opts.stateRoots[0], 'os')],
    logDir: opts.os?.logDir ?? join(opts.logRoot, 'os'),
    workDir: opts.os?.workDir ?? join(opts.stateRoots[0], 'os-work'),
    timeoutMs: opts.os?.timeoutMs ?? DEFAULT_OS_TIMEOUT_MS,
  };
}

export interface StatsOptions {
  /**
   * What each 5 s cycle reads (default: the host's own readings, stats/sample-all.ts); false: no
   * sampling (the RRDs are still served, archived, pushed).
   */
  sampler?: Sampler | false;
  /** Milliseconds between archive writes (default DEFAULT_ARCHIVE_INTERVAL_MS). */
  archiveIntervalMs?: number;
  /** Milliseconds between cycles (tests; xapi's step is 5 s and the RRDs' step stays 5 s). */
  stepMs?: number;
}

export interface Agent {
  server: AgentServer;
  vms: InstanceManager;
  /** The NBD exports this agent serves (ended by close). */
  exports: NbdExports;
  /** The RRDs held here, their archive and the sampling loop (absent when sampling is off). */
  stats: { store: StatsStore; archive: RrdArchive; loop?: StatsLoop };
  /** The storage device plugins and their sessions with the pool master. */
  devicePlugins: DevicePluginRunner;
  /** Stops serving and ends the NBD exports; the VMs keep running. */
  close(): Promise<void>;
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const storageCtx = storageContext(opts.storage ?? {}, opts.stateRoots);
  // The SRs attached here, as the storage procedures see them: the statistics sampler's SR list,
  // and where a starting VM's ExtStorage disks find their provider.
  const attached = new AttachedSrs(storageCtx);
  const vms = new InstanceManager({
    ...opts,
    diskAssembler: opts.diskAssembler ?? extDiskAssembler(attached, storageCtx),
  });
  // VMs found dead at start-up are told to every manager that connects (idempotent for it).
  const liveCbt = (vm: string, device: string, op: LiveCbtOp, gen?: string) =>
    vms.diskCbt(vm, device, op, gen);
  const storage = { ...storageProcedures(storageCtx, attached), ...cbtProcedures(storageCtx, liveCbt) };
  // NBD exports of volumes: daemons an earlier agent left are ended before any new one starts.
  const exports = new NbdExports(opts.runRoot, storageCtx);
  await exports.cleanLeftovers();
  const running = new InstanceExports(vms, exports.dir);
  running.cleanLeftovers();
  // Statistics: the archived RRDs are back before anything is served or sampled.
  const stats = await startStats(opts, () =>
    agentSampler(vms, attached, storageCtx, {
      nicKinds: opts.network?.nicKinds,
      foreignNetns: Boolean(opts.network?.netns),
    }),
  );
  const devicePlugins = startDevicePlugins(opts.devicePlugins);
  const hostOps = hostOpsProcedures(
    hostOpsConfig(
      opts.hostOps ?? {},
      {
        stateRoot: opts.stateRoots[0],
        runRoot: opts.runRoot,
        srRoot: storageCtx.allowedRoots[0],
        netns: opts.network?.netns,
      },
      () => vms.all().map((i) => i.uuid),
    ),
  );
  const table = {
    ...procedures(vms),
    ...statsProcedures(stats.store),
    ...devicePluginProcedures(devicePlugins),
    ...hooksProcedures(opts.hooks),
    ...hostOps.procedures,
    ...networkProcedures(opts.network),
    ...storage,
    ...dataPlaneProcedures(exports, running),
    ...migrationProcedures({ vms }),
    ...diskMirrorProcedure(vms, storageCtx.allowedRoots),
    ...nodeStorageProcedures({ storage: storageCtx, exports, stateRoot: opts.stateRoots[0] }),
    ...osProcedures(osOptions(opts), storageCtx.allowedRoots),
    ...masterIpProcedures({ ...opts.masterIp, netns: opts.network?.netns }),
    ...storageDirProcedures({
      allowedRoots: storageCtx.allowedRoots,
      isAttached: (uuid) => attached.list().some((a) => a.config.uuid === uuid),
    }),
    [DISK_SNAPSHOT_PROCEDURE]: (uuid: unknown, disks: unknown, options: unknown) => {
      const a = diskSnapshotArgs(disks, options);
      return snapshotDisks(vms, storageCtx, str('uuid', uuid), a.requests, a.options);
    },
  };
  const server = new AgentServer(table, { greeting: () => vms.lostAtStart });
  vms.on('event', (e) => server.push(e));
  // Adopt before serving, so the manager's first all_instances_info already sees every VM.
  const { adopted, gone } = await vms.adoptAll();
  // The socket dir and run root stay root's (0700): QEMU opens what lies there before its drop and
  // gets its suspend file as a descriptor.
  await server.listen(opts.socketPath);
  if (opts.pkiDir) {
    server.addLocalProcedures(localTlsProcedures(server, opts.pkiDir, opts.tcp));
    if (opts.tcp) await startTcp(server, { ...opts.tcp, pkiDir: opts.pkiDir });
  }
  log.info('agent ready', {
    socket: opts.socketPath,
    tcp: server.tcpAddress ? `${server.tcpAddress.address}:${server.tcpAddress.port}` : null,
    accel: opts.accel,
    runAs: opts.runAs ?? 'root',
    adopted: adopted.length,
    gone: gone.length,
  });
  return {
    server,
    vms,
    exports,
    stats: { store: stats.store, archive: stats.archive, loop: stats.loop },
    devicePlugins,
    close: async () => {
      await devicePlugins.close();
      hostOps.close();
      await stats.stop(); // the last cycle, then the archive written once more
      await running.closeAll(); // through the VMs' QMP: before detaching from them
      vms.detachAll();
      await server.close();
      await exports.closeAll();
    },
  };
}

/** The statistics store, reloaded from its archive, with its sampling loop and periodic archive. */
async function startStats(opts: AgentOptions, defaultSampler: () => Sampler) {
  const store = new StatsStore();
  const archive = new RrdArchive(join(opts.stateRoots[0], 'rrd'), store);
  store.onDropped = (owner, uuid) =>
    void archive
      .remove(owner, uuid)
      .catch((e) => log.error('cannot remove RRD archive', { uuid, error: String(e) }));
  await archive.load();
  const given = opts.stats?.sampler;
  const sampler = given === undefined ? defaultSampler() : given;
  const loop = sampler ? startStatsLoop({ sampler, store, stepMs: opts.stats?.stepMs }) : undefined;
  const archiving = startArchiving(archive, opts.stats?.archiveIntervalMs ?? DEFAULT_ARCHIVE_INTERVAL_MS);
  let stopping: Promise<void> | undefined;
  return {
    store,
    archive,
    loop,
    stop: () => {
      stopping ??= (async () => {
        await loop?.stop();
        await archiving.stop().catch((e) => log.error('final RRD archive failed', { error: String(e) }));
      })();
      return stopping;
    },
  };
}
