// A stand-in agent's statistics that keep what the manager hands them and record every call: the
// RRDs it holds are opaque dump strings, its data sources a fixed catalog with one value each.
import { XenApiError } from '../../../src/shared/errors.js';
import type {
  DataSourceInfo,
  LatestValues,
  RrdOwner,
  RrdUpdatesQuery,
  StatsProcedures,
  StatsSettings,
} from '../../../src/shared/host/stats.js';

export const HOST_SOURCES: DataSourceInfo[] = [
  {
    name: 'memory_free_kib',
    description: 'Host free memory',
    enabled: true,
    standard: true,
    min: 0,
    max: null,
    units: 'KiB',
    value: 1048576,
  },
  {
    name: 'cpu0',
    description: 'Physical cpu usage for cpu 0',
    enabled: true,
    standard: true,
    min: 0,
    max: 1,
    units: '(fraction)',
    value: 0.012345,
  },
  {
    name: 'pif_eth0_rx_errors',
    description: 'Receive errors per second on physical interface eth0',
    enabled: false,
    standard: false,
    min: null,
    max: null,
    units: 'err/s',
    value: null,
  },
];

export const VM_SOURCES: DataSourceInfo[] = [
  {
    name: 'memory',
    description: 'Memory currently allocated to VM',
    enabled: true,
    standard: true,
    min: 0,
    max: null,
    units: 'B',
    value: 268435456,
  },
  {
    name: 'cpu0',
    description: 'CPU0 usage',
    enabled: true,
    standard: true,
    min: 0,
    max: 1,
    units: '(fraction)',
    value: 0.25,
  },
];

export class RecordingStats implements StatsProcedures {
  calls: [string, ...unknown[]][] = [];
  /** RRDs held, by `owner:uuid`. */
  held = new Map<string, string>();
  latest: LatestValues = { time: 0, host: {}, vms: {}, srs: {} };
  /** When set, every call fails with it (an agent whose statistics are broken). */
  failWith?: Error;

  private enter(name: string, ...args: unknown[]) {
    this.calls.push([name, ...args]);
    if (this.failWith) throw this.failWith;
  }
  private sources(owner: RrdOwner, uuid: string): DataSourceInfo[] | null {
    if (owner === 'host') return HOST_SOURCES;
    return this.held.has(`${owner}:${uuid}`) ? VM_SOURCES : null;
  }
  async stats_configure(settings: StatsSettings) {
    this.enter('configure', settings);
  }
  async stats_rrd_updates(_q: RrdUpdatesQuery): Promise<string> {
    throw new Error('not recorded here');
  }
  async stats_rrd_dump(owner: RrdOwner, uuid: string) {
    return this.held.get(`${owner}:${uuid}`) ?? null;
  }
  async stats_data_sources(owner: RrdOwner, uuid: string) {
    this.enter('data_sources', owner, uuid);
    return this.sources(owner, uuid);
  }
  async stats_query_data_source(owner: RrdOwner, uuid: string, name: string) {
    this.enter('query', owner, uuid, name);
    const ds = this.sources(owner, uuid)?.find((d) => d.name === name);
    if (!ds) throw new XenApiError('INVALID_VALUE', ['data_source', name]);
    return ds.value;
  }
  async stats_record_data_source(owner: RrdOwner, uuid: string, name: string) {
    this.enter('record', owner, uuid, name);
    if (!this.sources(owner, uuid)?.some((d) => d.name === name))
      throw new XenApiError('INVALID_VALUE', ['data_source', name]);
  }
  async stats_forget_data_source_archives(owner: RrdOwner, uuid: string, name: string) {
    this.enter('forget', owner, uuid, name);
  }
  async stats_rrd_push(owner: 'vm' | 'sr', uuid: string, dump: string) {
    this.enter('push', owner, uuid, dump);
    this.held.set(`${owner}:${uuid}`, dump);
  }
  async stats_rrd_take(owner: 'vm' | 'sr', uuid: string, remove: boolean) {
    this.enter('take', owner, uuid, remove);
    const dump = this.held.get(`${owner}:${uuid}`) ?? null;
    if (remove) this.held.delete(`${owner}:${uuid}`);
    return dump;
  }
  async stats_rrd_list() {
    this.enter('list');
    const of = (o: string) =>
      [...this.held.keys()].filter((k) => k.startsWith(`${o}:`)).map((k) => k.slice(3));
    return { vms: of('vm'), srs: of('sr') };
  }
  async stats_latest() {
    this.enter('latest');
    return this.latest;
  }
}
