// VM, host and SR data sources (xapi's get_data_sources, record_data_source, query_data_source,
// forget_data_source_archives): answered by the agent that holds the RRD — the VM's resident
// host, the host itself, a host with the SR attached (storage/sr-host.ts hostForSr). The agent
// speaks the statistics contract (src/shared/host/stats.ts), whose nulls stand for the NaN and
// ±Infinity JSON cannot carry; they are mapped back here.
//
// Errors as xapi's: the VM messages run as the VM operation `data_source_op`, which needs a
// running VM (VM_BAD_POWER_STATE otherwise; query_data_source: running or paused); a host whose agent is away is HOST_OFFLINE (or
// CANNOT_CONTACT_HOST for this manager's own); an unknown data source is the agent's
// INVALID_VALUE ['data_source', name]; a name no RRD could hold is refused the same way here.
import { XenApiError } from '../../shared/errors.js';
import type { DataSourceInfo, RrdOwner, StatsProcedures } from '../../shared/host/stats.js';
import { isDataSourceName } from '../../shared/rrd/types.js';
import { hostForSr } from '../storage/sr-host.js';
import type { CallContext, HandlerTable } from './context.js';

/** A data_source record as XenAPI returns it. */
export interface DataSourceRecord {
  name_label: string;
  name_description: string;
  enabled: boolean;
  standard: boolean;
  units: string;
  min: number;
  max: number;
  value: number;
}

/** The contract's record → xapi's (null min/max: unbounded, null value: NaN). */
export function toDataSourceRecord(ds: DataSourceInfo): DataSourceRecord {
  return {
    name_label: ds.name,
    name_description: ds.description,
    enabled: ds.enabled,
    standard: ds.standard,
    units: ds.units,
    min: ds.min ?? Number.NEGATIVE_INFINITY,
    max: ds.max ?? Number.POSITIVE_INFINITY,
    value: ds.value ?? Number.NaN,
  };
}

/** Refuses a name no RRD holds (shared/rrd/types.ts isDataSourceName) before it reaches an agent. */
export function checkDataSourceName(name: string): string {
  if (!isDataSourceName(name)) throw new XenApiError('INVALID_VALUE', ['data_source', name]);
  return name;
}

/** Where an owner's RRD lives: the agent's statistics procedures and the uuid to name it by. */
interface Target {
  stats: StatsProcedures;
  owner: RrdOwner;
  uuid: string;
}

/**
 * A live VM's RRD, on its resident host. xapi runs get/record/forget as the VM operation
 * data_source_op (Running only, VM_BAD_POWER_STATE [vm, running, <state>]) and checks query's
 * initial state only (assert_initial_power_state_in [Running; Paused]: [vm, running;paused, <state>]).
 */
function vmTarget(ctx: CallContext, vm: string, opts: { allowPaused?: boolean } = {}): Target {
  const { db } = ctx.svc;
  const row = db.mustGet('VM', vm);
  const power = String(row.power_state);
  const allowed = opts.allowPaused ? ['Running', 'Paused'] : ['Running'];
  if (!allowed.includes(power))
    throw new XenApiError('VM_BAD_POWER_STATE', [vm, allowed.join(';').toLowerCase(), power.toLowerCase()]);
  return { stats: ctx.svc.hosts.get(String(row.resident_on)).stats, owner: 'vm', uuid: String(row.uuid) };
}

function hostTarget(ctx: CallContext, host: string): Target {
  const row = ctx.svc.db.mustGet('host', host);
  return { stats: ctx.svc.hosts.get(host).stats, owner: 'host', uuid: String(row.uuid) };
}

/** The SR's RRD, on the host that serves it; undefined when no host has it attached. */
function srTarget(ctx: CallContext, sr: string): Target | undefined {
  const row = ctx.svc.db.mustGet('SR', sr);
  const attached = ((row.PBDs as string[] | undefined) ?? []).some(
    (p) => ctx.svc.db.get('PBD', p)?.currently_attached === true,
  );
  if (!attached) return undefined;
  return { stats: ctx.svc.hosts.get(hostForSr(ctx.svc, sr)).stats, owner: 'sr', uuid: String(row.uuid) };
}

function mustSrTarget(ctx: CallContext, sr: string): Target {
  const t = srTarget(ctx, sr);
  if (!t) throw new XenApiError('SR_NOT_ATTACHED', [sr]);
  return t;
}

async function list(t: Target | undefined): Promise<DataSourceRecord[]> {
  if (!t) return [];
  const dss = await t.stats.stats_data_sources(t.owner, t.uuid);
  return (dss ?? []).map(toDataSourceRecord).sort((a, b) => (a.name_label < b.name_label ? -1 : 1));
}

async function query(t: Target, name: string): Promise<number> {
  return (await t.stats.stats_query_data_source(t.owner, t.uuid, checkDataSourceName(name))) ?? Number.NaN;
}

async function record(t: Target, name: string): Promise<void> {
  await t.stats.stats_record_data_source(t.owner, t.uuid, checkDataSourceName(name));
}

async function forget(t: Target | undefined, name: string): Promise<void> {
  checkDataSourceName(name);
  if (t) await t.stats.stats_forget_data_source_archives(t.owner, t.uuid, name);
}

export const dataSourceApi: HandlerTable = {
  handlers: {
    'VM.get_data_sources': (ctx, vm) => list(vmTarget(ctx, vm)),
    'VM.record_data_source': (ctx, vm, name) => record(vmTarget(ctx, vm), name),
    'VM.query_data_source': (ctx, vm, name) => query(vmTarget(ctx, vm, { allowPaused: true }), name),
    'VM.forget_data_source_archives': (ctx, vm, name) => forget(vmTarget(ctx, vm), name),
    'host.get_data_sources': (ctx, host) => list(hostTarget(ctx, host)),
    'host.record_data_source': (ctx, host, name) => record(hostTarget(ctx, host), name),
    'host.query_data_source': (ctx, host, name) => query(hostTarget(ctx, host), name),
    'host.forget_data_source_archives': (ctx, host, name) => forget(hostTarget(ctx, host), name),
    'SR.get_data_sources': (ctx, sr) => list(srTarget(ctx, sr)),
    'SR.record_data_source': (ctx, sr, name) => record(mustSrTarget(ctx, sr), name),
    'SR.query_data_source': (ctx, sr, name) => query(mustSrTarget(ctx, sr), name),
    'SR.forget_data_source_archives': (ctx, sr, name) => forget(srTarget(ctx, sr), name),
  },
};
