// Keeps the database's metrics fields current from the hosts' RRDs, as xapi's monitor_dbcalls
// thread does every 5 s: VM_metrics.memory_actual (VM `memory`) and VCPUs_utilisation (`cpu<N>`),
// host_metrics.memory_free (`memory_free_kib`), PIF_metrics io_read_kbs/io_write_kbs
// (`pif_<device>_rx/_tx`), VBD_metrics (`vbd_<device>_read/_write`) and VIF_metrics
// (`vif_<device>_rx/_tx`). Only values that changed are written, in one transaction per host, so
// that event clients see no churn when nothing moves. An unknown (null) value leaves the field as
// it is.
import { NULL_REF } from '../../shared/datamodel/types.js';
import type { LatestValues } from '../../shared/host/stats.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { Database, Row } from '../db/database.js';
import { vbdDevice } from '../storage/vm-disks.js';
import { nowXapi } from '../time.js';

const log = logger('stats');

/** xapi's monitor_dbcall_thread period. */
const DEFAULT_METRICS_PERIOD_MS = 5000;

/**
 * The period BERTH_METRICS_PERIOD_MS asks for: a finite number of milliseconds ≥ 1000, else the
 * default with one warning (NaN would make setTimeout spin every millisecond).
 */
export function metricsPeriodMs(
  text: string | undefined,
  warn: (message: string, fields: Record<string, unknown>) => void = (m, f) => log.warn(m, f),
): number {
  if (text === undefined || text.trim() === '') return DEFAULT_METRICS_PERIOD_MS;
  const ms = Number(text);
  if (Number.isFinite(ms) && ms >= 1000) return ms;
  warn('BERTH_METRICS_PERIOD_MS is not a number of milliseconds >= 1000: using the default', {
    value: text,
    defaultMs: DEFAULT_METRICS_PERIOD_MS,
  });
  return DEFAULT_METRICS_PERIOD_MS;
}

export const METRICS_PERIOD_MS = metricsPeriodMs(process.env.BERTH_METRICS_PERIOD_MS);

/** One field write: class, ref, fields. */
export type FieldUpdate = [cls: string, ref: string, changes: Row];

type Values = Record<string, number | null>;

const known = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** Fields of `row` in `want` whose value differs (maps compared by content). */
function changed(row: Row | undefined, want: Row): Row | undefined {
  if (!row) return undefined;
  const out: Row = {};
  for (const [k, v] of Object.entries(want)) {
    const cur = row[k];
    const same =
      typeof v === 'object' && v !== null
        ? JSON.stringify(cur ?? {}) === JSON.stringify(v)
        : Number(cur) === Number(v);
    if (!same) out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

function push(out: FieldUpdate[], db: Database, cls: string, ref: unknown, want: Row) {
  if (typeof ref !== 'string' || ref === NULL_REF || !Object.keys(want).length) return;
  const diff = changed(db.get(cls, ref), want);
  if (diff) out.push([cls, ref, { ...diff, last_updated: nowXapi() }]);
}

/** io_read_kbs/io_write_kbs from two B/s data sources (each only when known). */
function io(values: Values, read: string, write: string): Row {
  const want: Row = {};
  if (known(values[read])) want.io_read_kbs = values[read] / 1024;
  if (known(values[write])) want.io_write_kbs = values[write] / 1024;
  return want;
}

/** The metrics field writes `host`'s latest values call for (pure over the database). */
export function metricsUpdates(db: Database, host: string, latest: LatestValues): FieldUpdate[] {
  const out: FieldUpdate[] = [];
  const hostRow = db.get('host', host);
  if (!hostRow) return out;
  const free = latest.host.memory_free_kib;
  if (known(free)) push(out, db, 'host_metrics', hostRow.metrics, { memory_free: Math.round(free * 1024) });
  for (const pif of (hostRow.PIFs as string[] | undefined) ?? []) {
    const row = db.get('PIF', pif);
    if (!row) continue;
    const dev = String(row.device);
    push(out, db, 'PIF_metrics', row.metrics, io(latest.host, `pif_${dev}_rx`, `pif_${dev}_tx`));
  }
  for (const [uuid, values] of Object.entries(latest.vms)) {
    const ref = db.refByUuid('VM', uuid);
    const vm = ref ? db.get('VM', ref) : undefined;
    if (!vm || vm.resident_on !== host) continue; // a VM that moved on is another host's to report
    const want: Row = {};
    if (known(values.memory)) want.memory_actual = Math.round(values.memory);
    const cpus: Record<string, number> = {};
    for (const [name, v] of Object.entries(values)) {
      const m = /^cpu(\d+)$/.exec(name);
      if (m && known(v)) cpus[m[1]] = v;
    }
    if (Object.keys(cpus).length) want.VCPUs_utilisation = cpus;
    push(out, db, 'VM_metrics', vm.metrics, want);
    for (const vbd of (vm.VBDs as string[] | undefined) ?? []) {
      const row = db.get('VBD', vbd);
      if (!row) continue;
      const dev = vbdDevice(row); // the name the agent's sampler uses (instance spec's disk device)
      push(out, db, 'VBD_metrics', row.metrics, io(values, `vbd_${dev}_read`, `vbd_${dev}_write`));
    }
    for (const vif of (vm.VIFs as string[] | undefined) ?? []) {
      const row = db.get('VIF', vif);
      if (!row) continue;
      const dev = String(row.device);
      push(out, db, 'VIF_metrics', row.metrics, io(values, `vif_${dev}_rx`, `vif_${dev}_tx`));
    }
  }
  return out;
}

/** One pass over every live host: its latest values into the metrics fields. */
export async function refreshMetricsFields(svc: Services): Promise<void> {
  await Promise.all(
    svc.hosts
      .refs()
      .filter((h) => svc.hosts.live(h))
      .map(async (host) => {
        try {
          const latest = await svc.hosts.get(host).stats.stats_latest();
          const updates = metricsUpdates(svc.db, host, latest);
          if (!updates.length) return;
          svc.db.transaction(() => {
            for (const [cls, ref, changes] of updates)
              if (svc.db.has(cls, ref)) svc.db.update(cls, ref, changes);
          });
        } catch (e) {
          log.debug('metrics fields not refreshed', { host, error: String(e) });
        }
      }),
  );
}

/** Refreshes the metrics fields every `periodMs` until stopped (passes never overlap). */
export function startMetricsFields(svc: Services, periodMs = METRICS_PERIOD_MS): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = () => {
    refreshMetricsFields(svc).finally(() => {
      if (!stopped) timer = setTimeout(tick, periodMs).unref();
    });
  };
  timer = setTimeout(tick, periodMs).unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
