// The statistics part of the host contract (issue 16), after xapi's xcp-rrdd: every host's agent
// samples its own figures, its running VMs' and its attached SRs' every 5 s into round-robin
// databases laid out as xapi's (src/shared/rrd/), keeps them in memory, archives them to its state
// directory, and answers these procedures. The manager serves xapi's HTTP endpoints and messages
// from them, and keeps a stopped VM's RRD on the pool master (taken from the agent when the VM
// stops, pushed to the next host that runs it).
//
//   await agent.stats.stats_rrd_push('vm', uuid, archivedXml);   // before the VM starts there
//   const body = await agent.stats.stats_rrd_updates({ start, interval: 5, host: true, … });
//   const xml = await agent.stats.stats_rrd_take('vm', uuid);      // after it stopped → archive
//
// RRD bodies cross this boundary as text already rendered in xapi's formats (§6.3, §6.4 of
// xe-http-xva-rrd.md): the manager sends them as they are.

/** Whose RRD: the host's own, a VM's or an SR's (xapi's legend owners). */
export type RrdOwner = 'host' | 'vm' | 'sr';

/** Consolidation functions (xapi's `cf`; LAST exists but no archive uses it). */
export type ConsolidationFn = 'AVERAGE' | 'MIN' | 'MAX' | 'LAST';

/** `/rrd_updates` as the agent answers it (§6.4). */
export interface RrdUpdatesQuery {
  /** Epoch seconds; negative: relative to the last update. */
  start: number;
  /** Seconds between rows wanted (0: the finest archive that still holds `start`). */
  interval: number;
  /** Absent: every CF available at the chosen resolution. */
  cf?: ConsolidationFn;
  /** Include the host's RRD (xapi: `host=true`). */
  host: boolean;
  /** VMs to include; absent: every VM running on this host. Unknown uuids are left out. */
  vmUuids?: string[];
  /** SRs to include (absent in xapi's query: none). */
  srUuids: string[];
  json: boolean;
  /** This host's uuid, for the legend (`AVERAGE:host:<uuid>:cpu0`); the manager knows it. */
  hostUuid: string;
}

/** One data source as `get_data_sources` and `xe *-data-source-list` show it (xapi's data_source). */
export interface DataSourceInfo {
  name: string;
  description: string;
  /** Being recorded now. */
  enabled: boolean;
  /** Recorded by default (§7's ✓). */
  standard: boolean;
  /** null: unbounded on that side (JSON carries no ±Infinity; the manager maps it back). */
  min: number | null;
  max: number | null;
  units: string;
  /** Latest value, null when unknown (NaN in xapi's data_source.value). */
  value: number | null;
}

/** The latest value of every recorded data source (null: unknown), for metrics fields and /metrics. */
export interface LatestValues {
  /** Epoch seconds of the last update. */
  time: number;
  host: Record<string, number | null>;
  /** By VM uuid: the VMs running on this host. */
  vms: Record<string, Record<string, number | null>>;
  /** By SR uuid: the SRs attached on this host. */
  srs: Record<string, Record<string, number | null>>;
}

export interface StatsSettings {
  /** Pool `other_config:create_min_max_in_new_VM_RRDs=true`: new VM/SR RRDs get MIN/MAX archives. */
  createMinMaxInNewVmRrds: boolean;
}

export interface StatsProcedures {
  /** Settings from the pool (sent at every connection and when they change). */
  stats_configure(settings: StatsSettings): Promise<void>;
  /** `/rrd_updates` of this host's RRDs, rendered (XML or JSON as query.json says). */
  stats_rrd_updates(query: RrdUpdatesQuery): Promise<string>;
  /**
   * Full dump (§6.3) of one RRD held here, XML or JSON; null when this agent holds none for it
   * (uuid ignored for 'host').
   */
  stats_rrd_dump(owner: RrdOwner, uuid: string, json: boolean): Promise<string | null>;
  /**
   * Every data source of an RRD held here, recorded or available (sorted by name); null when
   * this agent holds no RRD for it and the VM/SR is not here.
   */
  stats_data_sources(owner: RrdOwner, uuid: string): Promise<DataSourceInfo[] | null>;
  /**
   * Latest value of one data source (null: unknown, NaN for xapi); INVALID_VALUE ['data_source',
   * name] if this RRD has no such source.
   */
  stats_query_data_source(owner: RrdOwner, uuid: string, name: string): Promise<number | null>;
  /** Starts recording a non-standard data source (xapi's record_data_source); idempotent. */
  stats_record_data_source(owner: RrdOwner, uuid: string, name: string): Promise<void>;
  /** Drops a data source's archives (it is recorded afresh if still standard or recorded). */
  stats_forget_data_source_archives(owner: RrdOwner, uuid: string, name: string): Promise<void>;
  /**
   * Hands the agent an archived RRD (internal XML dump) to continue, before the VM starts or
   * arrives here (migration), or an SR's kept on the master. Replaces any RRD held for it.
   * A corrupt dump is refused with INVALID_VALUE and nothing changes.
   */
  stats_rrd_push(owner: 'vm' | 'sr', uuid: string, dump: string): Promise<void>;
  /**
   * The RRD held for a VM or SR as an internal XML dump, for the master's archive (VM stopped,
   * migrated away, SR detached); `remove` forgets it here. null when none is held.
   */
  stats_rrd_take(owner: 'vm' | 'sr', uuid: string, remove: boolean): Promise<string | null>;
  /** VM and SR RRDs held here, running/attached or not (leftovers the manager has not taken). */
  stats_rrd_list(): Promise<{ vms: string[]; srs: string[] }>;
  /** The latest values of every RRD held here for running VMs and attached SRs. */
  stats_latest(): Promise<LatestValues>;
}

export type StatsProcedureName = keyof StatsProcedures;

export const STATS_PROCEDURES = [
  'stats_configure',
  'stats_rrd_updates',
  'stats_rrd_dump',
  'stats_data_sources',
  'stats_query_data_source',
  'stats_record_data_source',
  'stats_forget_data_source_archives',
  'stats_rrd_push',
  'stats_rrd_take',
  'stats_rrd_list',
  'stats_latest',
] as const satisfies readonly StatsProcedureName[];

type Unlisted = Exclude<StatsProcedureName, (typeof STATS_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** The statistics procedures over an agent RPC `call` (the manager's client of a host's agent). */
export function statsClient(call: (procedure: string, args: unknown[]) => Promise<unknown>): StatsProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of STATS_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as StatsProcedures;
}
