// What GET /metrics reads of the store (docs/storage-plugins.md "In /metrics"): one statement per
// metric family, whatever the number of resources — the latest value of every statistic with its
// record's class, label and root; the active alerts with theirs; the record count per class; and the
// declared statistic types (from the classes the sessions registered).
import type { AlertSeverity, ResourceClassInfo } from '../../shared/storage-resources/session.js';
import type { ResourceSql } from './sql.js';

/** Where a record belongs, for labels: its scope, else the root it is, else its first reporter. */
const RECORD_ROOT = `COALESCE(NULLIF(r.scope, ''),
  (SELECT MIN(o.root) FROM _resource_root o WHERE o.record_id = r.id),
  (SELECT MIN(b.root) FROM _resource_reported_by b WHERE b.record_id = r.id), '')`;

export interface StatisticRow {
  recordId: number;
  class: string;
  /** The alias when set, else the label. */
  label: string;
  root: string;
  name: string;
  ts: number;
  /** A number (Gauge, Counter) or one count per bin (BytesHistogram). */
  value: number | number[];
}

export interface ActiveAlertRow {
  id: number;
  recordId: number | null;
  /** The record's class and label ('' for a root's offline alert whose root has no record). */
  class: string;
  label: string;
  root: string;
  kind: 'condition' | 'offline';
  alertClass: string;
  severity: AlertSeverity;
  message: string;
}

export interface MetricsSnapshot {
  /** `plugin.Class` → its statistics as declared. */
  statisticTypes: Map<string, ResourceClassInfo['statistics']>;
  statistics: StatisticRow[];
  alerts: ActiveAlertRow[];
  /** `plugin.Class` → number of records. */
  classCounts: Map<string, number>;
}

export function statisticRows(sql: ResourceSql): StatisticRow[] {
  return sql
    .all<{
      record_id: number;
      class: string;
      label: string;
      root: string;
      name: string;
      ts: number;
      value: string;
    }>(
      `SELECT s.record_id, r.class, COALESCE(r.alias, r.label) AS label, ${RECORD_ROOT} AS root,
              s.name, s.ts, s.value
         FROM _resource_statistic_latest s JOIN _resource_record r ON r.id = s.record_id
        ORDER BY s.name, s.record_id`,
    )
    .map((x) => ({
      recordId: x.record_id,
      class: x.class,
      label: x.label,
      root: x.root,
      name: x.name,
      ts: x.ts,
      value: JSON.parse(x.value) as number | number[],
    }));
}

export function activeAlertRows(sql: ResourceSql): ActiveAlertRow[] {
  return sql
    .all<{
      id: number;
      record_id: number | null;
      class: string | null;
      label: string | null;
      root: string;
      kind: 'condition' | 'offline';
      alert_class: string;
      severity: AlertSeverity;
      message: string;
    }>(
      `SELECT a.id, a.record_id, r.class, COALESCE(r.alias, r.label) AS label, a.root, a.kind,
              a.alert_class, a.severity, a.message
         FROM _resource_alert a LEFT JOIN _resource_record r ON r.id = a.record_id
        WHERE a.active = 1 ORDER BY a.id`,
    )
    .map((x) => ({
      id: x.id,
      recordId: x.record_id,
      class: x.class ?? '',
      label: x.label ?? '',
      root: x.root,
      kind: x.kind,
      alertClass: x.alert_class,
      severity: x.severity,
      message: x.message,
    }));
}

export function classCounts(sql: ResourceSql): Map<string, number> {
  return new Map(
    sql
      .all<{ class: string; n: number }>(
        'SELECT class, COUNT(*) AS n FROM _resource_record GROUP BY class ORDER BY class',
      )
      .map((x) => [x.class, x.n]),
  );
}

export function statisticTypes(sql: ResourceSql): Map<string, ResourceClassInfo['statistics']> {
  const out = new Map<string, ResourceClassInfo['statistics']>();
  for (const x of sql.all<{ name: string; info: string }>('SELECT name, info FROM _resource_class'))
    out.set(x.name, (JSON.parse(x.info) as ResourceClassInfo).statistics ?? {});
  return out;
}

/** Everything /metrics shows of the store, read in one transaction (one consistent state). */
export function metricsSnapshot(sql: ResourceSql): MetricsSnapshot {
  return sql.transaction(() => ({
    statisticTypes: statisticTypes(sql),
    statistics: statisticRows(sql),
    alerts: activeAlertRows(sql),
    classCounts: classCounts(sql),
  }));
}
