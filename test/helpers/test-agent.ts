// A real host agent (startAgent, in this process) on a temp Unix socket with temp roots, and a
// client of it for Manager.open (ManagerOptions.agent): manager tests reach storage (and VMs)
// over the real agent RPC, as the manager does in production.
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Agent, type AgentOptions, type StatsOptions, startAgent } from '../../src/agent/agent.js';
import type { StorageOptions } from '../../src/agent/storage/rpc.js';
import type { DevicePluginOptions } from '../../src/agent/storage-resources/index.js';
import { cbtClient } from '../../src/shared/host/cbt.js';
import { DATA_PLANE_PROCEDURES, type DataPlaneProcedures } from '../../src/shared/host/data-plane.js';
import { type DevicePluginProcedures, devicePluginClient } from '../../src/shared/host/device-plugins.js';
import { type HooksProcedures, hooksClient } from '../../src/shared/host/hooks.js';
import { type HostOpsProcedures, hostOpsClient } from '../../src/shared/host/host-ops.js';
import type { HostOpsOptions } from '../../src/agent/host-ops/options.js';
import { migrationClient } from '../../src/shared/host/migration.js';
import type { MasterIpProcedures, MasterIpResult } from '../../src/shared/host/master-ip.js';
import { type StorageDirProcedures, storageDirClient } from '../../src/shared/host/storage-dir.js';
import { type NodeStorageProcedures, nodeStorageClient } from '../../src/shared/host/node-storage.js';
import { type OsProcedures, osClient } from '../../src/shared/host/os.js';
import { XenApiError } from '../../src/shared/errors.js';
import { type StatsProcedures, statsClient } from '../../src/shared/host/stats.js';
import { STORAGE_PROCEDURES, type StorageProcedures } from '../../src/shared/host/storage.js';
import { NodedAgentClient } from '../../src/manager/hosts/host-client.js';
import type { HostAgent } from '../../src/manager/vm/host-agent.js';
import { tempDir } from './tmp.js';

export interface TestAgent {
  agent: Agent;
  /** Not yet connected: Manager.open connects it (or call connect() and wait for `connected`). */
  client: NodedAgentClient;
  socketPath: string;
}

/** Starts an agent with its socket and roots under `dir` (for child processes without a test context). */
export async function startAgentIn(
  dir: string,
  opts: {
    /** The agent's state root: SRs under STATE/sr, journals under STATE/storage, suspend files under STATE/suspend. */
    stateRoot?: string;
    storage?: StorageOptions;
    /** Statistics: a test sampler, the archive interval (default: no sampling). */
    stats?: StatsOptions;
    /** Storage device plugins (default: none run). */
    devicePlugins?: DevicePluginOptions | false;
    /** Host operations' allow-lists and commands (default: the agent's defaults). */
    hostOps?: HostOpsOptions;
    /** OS definitions: search paths, time limit (default: STATE/os). */
    os?: AgentOptions['os'];
  } = {},
): Promise<TestAgent> {
  const socketPath = join(dir, 'sock', 'agent.sock');
  const agent = await startAgent({
    socketPath,
    runRoot: join(dir, 'run'),
    logRoot: join(dir, 'log'),
    stateRoots: [opts.stateRoot ?? join(dir, 'state')],
    accel: 'tcg',
    storage: opts.storage,
    stats: opts.stats ?? { sampler: false },
    devicePlugins: opts.devicePlugins ?? false,
    // Never the machine's own /etc/berth: no hooks unless a test puts some there.
    hooks: { dir: join(dir, 'hooks'), iallocatorDir: join(dir, 'iallocators') },
    hostOps: opts.hostOps,
    os: opts.os,
  });
  return { agent, client: new NodedAgentClient(socketPath), socketPath };
}

/** A real agent in temp dirs, closed when the test ends. */
export async function startTestAgent(
  t: TestContext,
  opts: Parameters<typeof startAgentIn>[1] = {},
): Promise<TestAgent> {
  const a = await startAgentIn(tempDir(t, 'berth-agent-'), opts);
  t.after(async () => {
    a.client.close();
    await a.agent.close();
  });
  return a;
}

/** A host agent without storage (and data-plane) procedures: the stand-ins tests use for VM calls. */
export type InstanceAgent = Omit<
  HostAgent,
  | keyof StorageProcedures
  | keyof DataPlaneProcedures
  | 'cbt'
  | 'migration'
  | 'stats'
  | 'devicePlugins'
  | 'nodeStorage'
  | 'hooks'
  | 'hostOps'
  | 'os'
  | 'masterIp'
  | 'storageDir'
>;

/** The procedures a real agent's client lends a stand-in. */
const VOLUME_PROCEDURES = [...STORAGE_PROCEDURES, ...DATA_PLANE_PROCEDURES];

/**
 * Gives a stand-in host agent (a test's fake for VM calls) the storage procedures of a real
 * agent's client: storage stays real while instances are faked.
 */
export function withRealStorage<T extends InstanceAgent>(
  fake: T,
  storage: StorageProcedures & Partial<DataPlaneProcedures>,
): T & HostAgent {
  const out = fake as unknown as Record<string, unknown>;
  for (const name of VOLUME_PROCEDURES)
    out[name] = async (...args: unknown[]) => {
      const f = storage[name] as ((...a: unknown[]) => unknown) | undefined;
      if (!f) throw new Error(`${name}: this stand-in agent's storage lacks it`);
      return f.apply(storage, args);
    };
  if ('cbt' in storage) out.cbt = (storage as HostAgent).cbt;
  out.migration = noMigration();
  out.stats = noStats();
  out.devicePlugins = noDevicePlugins();
  out.nodeStorage = noNodeStorage();
  out.hooks = noHooks();
  out.hostOps = noHostOps();
  out.os = noOs();
  out.masterIp = memoryMasterIp();
  out.storageDir = noStorageDir();
  return fake as unknown as T & HostAgent;
}

/** A stand-in's migration procedures: they fail (stand-ins fake instances, which cannot move). */
function noMigration() {
  return migrationClient(async (name) => {
    throw new Error(`${name}: this stand-in agent cannot migrate`);
  });
}

/** A stand-in host agent without storage: its storage procedures fail (tests that need none). */
export function withoutStorage<T extends InstanceAgent>(fake: T): T & HostAgent {
  const out = fake as unknown as Record<string, unknown>;
  for (const name of VOLUME_PROCEDURES)
    out[name] = async () => {
      throw new Error(`${name}: this stand-in agent has no storage`);
    };
  out.cbt = cbtClient(async (name) => {
    throw new Error(`${name}: this stand-in agent has no storage`);
  });
  out.migration = noMigration();
  out.stats = noStats();
  out.devicePlugins = noDevicePlugins();
  out.nodeStorage = noNodeStorage();
  out.hooks = noHooks();
  out.hostOps = noHostOps();
  out.os = noOs();
  out.masterIp = memoryMasterIp();
  out.storageDir = noStorageDir();
  return fake as unknown as T & HostAgent;
}

/**
 * A stand-in's statistics: an agent that samples nothing and holds no RRD (its instances are
 * fake), so the manager's stats hooks around VM operations find nothing to move.
 */
export function noStats(): StatsProcedures {
  const empty: { [K in keyof StatsProcedures]: () => Awaited<ReturnType<StatsProcedures[K]>> } = {
    stats_configure: () => undefined,
    stats_rrd_updates: () => {
      throw new Error('stats_rrd_updates: this stand-in agent records no statistics');
    },
    stats_rrd_dump: () => null,
    stats_data_sources: () => null,
    stats_query_data_source: () => {
      throw new Error('stats_query_data_source: this stand-in agent records no statistics');
    },
    stats_record_data_source: () => undefined,
    stats_forget_data_source_archives: () => undefined,
    stats_rrd_push: () => undefined,
    stats_rrd_take: () => null,
    stats_rrd_list: () => ({ vms: [], srs: [] }),
    stats_latest: () => ({ time: 0, host: {}, vms: {}, srs: {} }),
  };
  return statsClient(async (name) => (empty as Record<string, () => unknown>)[name]());
}

/** A stand-in's device plugins: none run there, so nothing is ever queued. */
export function noDevicePlugins(): DevicePluginProcedures {
  return devicePluginClient(async (name, args) => {
    if (name === 'device_plugin_take' || name === 'device_plugin_list') return [];
    if (name === 'device_plugin_session_terminate') return undefined;
    throw new XenApiError('INVALID_VALUE', ['plugin', String(args[0])]);
  });
}

/** A stand-in's node-storage procedures: it has no block devices, volume groups or watcher. */
export function noNodeStorage(): NodeStorageProcedures {
  return nodeStorageClient(async (name) => {
    throw new Error(`${name}: this stand-in agent has no node storage`);
  });
}

/** A stand-in's hooks: its hooks dir is empty (no scripts run) and it has no iallocator. */
export function noHooks(): HooksProcedures {
  return hooksClient(async (name, args) => {
    if (name === 'hooks_runner' || name === 'hooks_list') return [];
    throw new XenApiError('IALLOCATOR_FAILED', [String(args[0]), 'not found or not executable', '']);
  });
}

/** A stand-in's host operations: none is available (its host is fake). */
export function noHostOps(): HostOpsProcedures {
  return hostOpsClient(async (name) => {
    throw new XenApiError('NODE_PROCEDURE_FAILED', [name, 'this stand-in agent has no host operations']);
  });
}

/** A stand-in's OS definitions: none are installed there. */
export function noOs(): OsProcedures {
  return osClient(async (name, args) => {
    if (name === 'os_diagnose') return [];
    if (name === 'os_validate' && args[0] === false) return false;
    throw new XenApiError('INVALID_VALUE', [
      'os',
      String(name === 'os_validate' ? args[1] : args[0]),
      'no OS definitions on this stand-in agent',
    ]);
  });
}

/**
 * A stand-in's master IP procedures: the addresses it "holds" kept in memory (`held`: ip → device
 * and prefix), with the real agent's idempotence, so pool tests see where the address is.
 */
export function memoryMasterIp(): MasterIpProcedures & {
  held: Map<string, { dev: string; prefix: number }>;
} {
  const held = new Map<string, { dev: string; prefix: number }>();
  const r = (changed: boolean): MasterIpResult => ({ changed, gratuitous_arp: false });
  return {
    held,
    async node_activate_master_ip(p) {
      if (held.has(p.ip)) return r(false);
      held.set(p.ip, { dev: p.netdev, prefix: p.netmask });
      return r(true);
    },
    async node_deactivate_master_ip(p) {
      return r(held.delete(p.ip));
    },
    async node_change_master_netmask(_old, netmask, ip, dev) {
      const h = held.get(ip);
      if (!h) throw new XenApiError('INVALID_VALUE', ['master_ip', ip]);
      held.set(ip, { dev, prefix: netmask });
      return r(h.prefix !== netmask);
    },
    async node_has_ip_address(ip) {
      return held.has(ip);
    },
  };
}

/** A stand-in's storage-dir procedure: it has no SR directories to move. */
export function noStorageDir(): StorageDirProcedures {
  return storageDirClient(async (name) => {
    throw new Error(`${name}: this stand-in agent has no SR directories`);
  });
}
