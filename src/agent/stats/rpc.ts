// The statistics procedures as the agent serves them over its RPC (src/shared/host/stats.ts). The
// RPC is a trust boundary: every argument's type and shape is checked here (INVALID_VALUE
// [name, value] otherwise) before the store hears of it.
import { XenApiError } from '../../shared/errors.js';
import type {
  ConsolidationFn,
  RrdOwner,
  RrdUpdatesQuery,
  StatsProcedureName,
  StatsSettings,
} from '../../shared/host/stats.js';
import { dumpJson, dumpXml, parseDumpXml } from '../../shared/rrd/dump.js';
import { rrdUpdates } from '../../shared/rrd/xport.js';
import { isDataSourceName } from '../../shared/rrd/types.js';
import { UUID_RE } from '../qemu/spec-check.js';
import type { Procedure } from '../server.js';
import { finiteOrNull, type StatsStore } from './store.js';

const bad = (name: string, v: unknown) => {
  const text = JSON.stringify(v) ?? 'undefined';
  return new XenApiError('INVALID_VALUE', [name, text.length > 200 ? `${text.slice(0, 200)}…` : text]);
};

const record = (name: string, v: unknown): Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(name, v);
  return v as Record<string, unknown>;
};

const onlyKeys = (name: string, o: Record<string, unknown>, keys: readonly string[]) => {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`${name}.${k}`, o[k]);
};

const boolArg = (name: string, v: unknown): boolean => {
  if (typeof v !== 'boolean') throw bad(name, v);
  return v;
};

const uuidArg = (name: string, v: unknown): string => {
  if (typeof v !== 'string' || !UUID_RE.test(v)) throw bad(name, v);
  return v;
};

const uuidsArg = (name: string, v: unknown): string[] => {
  if (!Array.isArray(v) || v.length > 10_000) throw bad(name, v);
  return v.map((x, i) => uuidArg(`${name}[${i}]`, x));
};

export function ownerArg(name: string, v: unknown): RrdOwner {
  if (v !== 'host' && v !== 'vm' && v !== 'sr') throw bad(name, v);
  return v;
}

const guestOwnerArg = (name: string, v: unknown): 'vm' | 'sr' => {
  if (v !== 'vm' && v !== 'sr') throw bad(name, v);
  return v;
};

/** The owner's uuid: a VM's or SR's must be one; the host's is ignored (any string). */
const ownerUuidArg = (owner: RrdOwner, v: unknown): string => {
  if (owner === 'host') {
    if (typeof v !== 'string') throw bad('uuid', v);
    return '';
  }
  return uuidArg('uuid', v);
};

/** A data source name (shared/rrd/types.ts isDataSourceName). */
const dsNameArg = (v: unknown): string => {
  if (!isDataSourceName(v))
    throw new XenApiError('INVALID_VALUE', ['data_source', JSON.stringify(v) ?? 'undefined']);
  return v;
};

const CFS: readonly ConsolidationFn[] = ['AVERAGE', 'MIN', 'MAX', 'LAST'];

export function updatesQueryArg(name: string, v: unknown): RrdUpdatesQuery {
  const o = record(name, v);
  onlyKeys(name, o, ['start', 'interval', 'cf', 'host', 'vmUuids', 'srUuids', 'json', 'hostUuid']);
  if (typeof o.start !== 'number' || !Number.isFinite(o.start)) throw bad(`${name}.start`, o.start);
  if (typeof o.interval !== 'number' || !Number.isFinite(o.interval) || o.interval < 0)
    throw bad(`${name}.interval`, o.interval);
  const q: RrdUpdatesQuery = {
    start: o.start,
    interval: o.interval,
    host: boolArg(`${name}.host`, o.host),
    srUuids: o.srUuids === undefined || o.srUuids === null ? [] : uuidsArg(`${name}.srUuids`, o.srUuids),
    json: boolArg(`${name}.json`, o.json),
    hostUuid: uuidArg(`${name}.hostUuid`, o.hostUuid),
  };
  if (o.cf !== undefined && o.cf !== null) {
    if (!CFS.includes(o.cf as ConsolidationFn)) throw bad(`${name}.cf`, o.cf);
    q.cf = o.cf as ConsolidationFn;
  }
  if (o.vmUuids !== undefined && o.vmUuids !== null) q.vmUuids = uuidsArg(`${name}.vmUuids`, o.vmUuids);
  return q;
}

export function settingsArg(name: string, v: unknown): StatsSettings {
  const o = record(name, v);
  onlyKeys(name, o, ['createMinMaxInNewVmRrds']);
  return { createMinMaxInNewVmRrds: boolArg(`${name}.createMinMaxInNewVmRrds`, o.createMinMaxInNewVmRrds) };
}

export function statsProcedures(store: StatsStore): Record<StatsProcedureName, Procedure> {
  return {
    stats_configure: (settings: unknown) => {
      store.settings = settingsArg('settings', settings);
    },
    stats_rrd_updates: (query: unknown) => {
      const q = updatesQueryArg('query', query);
      return rrdUpdates(store.updateSources(q), { start: q.start, interval: q.interval, cf: q.cf }, q.json);
    },
    stats_rrd_dump: (owner: unknown, uuid: unknown, json: unknown) => {
      const o = ownerArg('owner', owner);
      const held = store.get(o, ownerUuidArg(o, uuid));
      const asJson = boolArg('json', json);
      if (!held) return null;
      return asJson ? dumpJson(held.rrd) : dumpXml(held.rrd);
    },
    stats_data_sources: (owner: unknown, uuid: unknown) => {
      const o = ownerArg('owner', owner);
      return store.dataSources(o, ownerUuidArg(o, uuid));
    },
    stats_query_data_source: (owner: unknown, uuid: unknown, name: unknown) => {
      const o = ownerArg('owner', owner);
      return finiteOrNull(store.query(o, ownerUuidArg(o, uuid), dsNameArg(name)));
    },
    stats_record_data_source: (owner: unknown, uuid: unknown, name: unknown) => {
      const o = ownerArg('owner', owner);
      store.record(o, ownerUuidArg(o, uuid), dsNameArg(name));
    },
    stats_forget_data_source_archives: (owner: unknown, uuid: unknown, name: unknown) => {
      const o = ownerArg('owner', owner);
      store.forget(o, ownerUuidArg(o, uuid), dsNameArg(name));
    },
    stats_rrd_push: (owner: unknown, uuid: unknown, dump: unknown) => {
      const o = guestOwnerArg('owner', owner);
      const u = uuidArg('uuid', uuid);
      if (typeof dump !== 'string') throw bad('dump', typeof dump === 'object' ? null : dump);
      let rrd: ReturnType<typeof parseDumpXml>;
      try {
        rrd = parseDumpXml(dump);
      } catch (e) {
        // Name the fault, never echo the (large) dump back.
        throw new XenApiError('INVALID_VALUE', [
          'dump',
          `not an RRD dump: ${e instanceof Error ? e.message : String(e)}`,
        ]);
      }
      store.put(o, u, rrd);
    },
    stats_rrd_take: (owner: unknown, uuid: unknown, remove: unknown) => {
      const o = guestOwnerArg('owner', owner);
      const u = uuidArg('uuid', uuid);
      const rrd = store.take(o, u, boolArg('remove', remove));
      return rrd ? dumpXml(rrd, { internal: true }) : null;
    },
    stats_rrd_list: () => ({ vms: [...store.vms.keys()].sort(), srs: [...store.srs.keys()].sort() }),
    stats_latest: () => store.latest(),
  };
}
