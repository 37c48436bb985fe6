// Read side of the store, for the XenAPI extension and `xe` to come: resources of a root or class,
// one resource with its attributes, the graph around it, its active alerts (own and propagated),
// what provides to it, statistics. Reads see the last committed call (calls commit synchronously).
import type { AlertSeverity } from '../../shared/storage-resources/session.js';
import { ancestorIds, descendantIds } from './edges.js';
import type { StoredValue } from './identity.js';
import { type MetricsSnapshot, metricsSnapshot } from './metric-queries.js';
import { getRecord, type RecordRow, readAttributes } from './records.js';
import { whatProvides } from './relations.js';
import type { ResourceSql } from './sql.js';

export interface ResourceSummary {
  id: number;
  /** `plugin.Class` */
  class: string;
  label: string;
  alias: string | null;
}

export interface ResourceView extends ResourceSummary {
  storageId: string;
  /** The root a ScopedId record belongs to; null for GlobalId records. */
  scope: string | null;
  /** Attribute values, references as `{ record: id }`. */
  attributes: Record<string, StoredValue>;
  reportedBy: string[];
}

export interface AlertView {
  id: number;
  resourceId: number | null;
  root: string;
  kind: 'condition' | 'offline';
  alertClass: string;
  attribute: string | null;
  severity: AlertSeverity;
  message: string;
  active: boolean;
  raisedAt: number;
  loweredAt: number | null;
  /** True when the alert is on an ancestor and reaches the resource asked about by propagation. */
  propagated: boolean;
}

/** A _resource_alert row (every column). */
export interface AlertRow {
  id: number;
  record_id: number | null;
  root: string;
  kind: 'condition' | 'offline';
  alert_class: string;
  attribute: string | null;
  severity: AlertSeverity;
  message: string;
  active: number;
  raised_at: number;
  lowered_at: number | null;
}

const ALERT_COLUMNS =
  'a.id, a.record_id, a.root, a.kind, a.alert_class, a.attribute, a.severity, a.message, a.active, a.raised_at, a.lowered_at';

const alertView = (r: AlertRow, propagated: boolean): AlertView => ({
  id: r.id,
  resourceId: r.record_id,
  root: r.root,
  kind: r.kind,
  alertClass: r.alert_class,
  attribute: r.attribute,
  severity: r.severity,
  message: r.message,
  active: r.active === 1,
  raisedAt: r.raised_at,
  loweredAt: r.lowered_at,
  propagated,
});

export class ResourceQueries {
  constructor(private readonly sql: ResourceSql) {}

  resource(id: number): ResourceView | undefined {
    const r = getRecord(this.sql, id);
    if (!r) return undefined;
    return {
      id: r.id,
      class: r.class,
      label: r.label,
      alias: r.alias,
      storageId: r.storage_id,
      scope: r.scope === '' ? null : r.scope,
      attributes: readAttributes(this.sql, id),
      reportedBy: this.sql
        .all<{ root: string }>('SELECT root FROM _resource_reported_by WHERE record_id = ? ORDER BY root', id)
        .map((x) => x.root),
    };
  }

  /** The root's own record, its ScopedId records and the GlobalId records it reports. */
  resourcesOfRoot(root: string): ResourceSummary[] {
    return this.sql.all<ResourceSummary>(
      `SELECT id, class, label, alias FROM _resource_record WHERE scope = ?
         OR id IN (SELECT record_id FROM _resource_reported_by WHERE root = ?)
         OR id IN (SELECT record_id FROM _resource_root WHERE root = ?)
       ORDER BY id`,
      root,
      root,
      root,
    );
  }

  /**
   * Every record with its graph and active alert texts (own, then propagated), read in a few
   * table scans rather than per record: what get_all_records needs for thousands of records.
   */
  everything(): {
    views: ResourceView[];
    parents: Map<number, number[]>;
    children: Map<number, number[]>;
    alertMessages: Map<number, string[]>;
  } {
    const push = <K, V>(m: Map<K, V[]>, k: K, v: V) => {
      const xs = m.get(k);
      if (xs) xs.push(v);
      else m.set(k, [v]);
    };
    const attrs = new Map<number, Record<string, StoredValue>>();
    for (const r of this.sql.all<{ record_id: number; name: string; value: string; ref_id: number | null }>(
      'SELECT record_id, name, value, ref_id FROM _resource_attribute ORDER BY record_id, name',
    )) {
      let a = attrs.get(r.record_id);
      if (!a) attrs.set(r.record_id, (a = {}));
      a[r.name] = r.ref_id !== null ? { record: r.ref_id } : (JSON.parse(r.value) as StoredValue);
    }
    const reporters = new Map<number, string[]>();
    for (const r of this.sql.all<{ record_id: number; root: string }>(
      'SELECT record_id, root FROM _resource_reported_by ORDER BY record_id, root',
    ))
      push(reporters, r.record_id, r.root);
    const parents = new Map<number, number[]>();
    const children = new Map<number, number[]>();
    for (const e of this.sql.all<{ child_id: number; parent_id: number }>(
      'SELECT child_id, parent_id FROM _resource_parent ORDER BY child_id, parent_id',
    )) {
      push(parents, e.child_id, e.parent_id);
      push(children, e.parent_id, e.child_id);
    }
    for (const xs of children.values()) xs.sort((a, b) => a - b);
    const alertMessages = new Map<number, string[]>();
    for (const r of this.sql.all<{ record_id: number; message: string }>(
      'SELECT record_id, message FROM _resource_alert WHERE active = 1 AND record_id IS NOT NULL ORDER BY id',
    ))
      push(alertMessages, r.record_id, r.message);
    for (const r of this.sql.all<{ record_id: number; message: string }>(
      `SELECT p.record_id, a.message FROM _resource_alert a JOIN _resource_alert_propagated p ON p.alert_id = a.id
       WHERE a.active = 1 ORDER BY a.id`,
    ))
      push(alertMessages, r.record_id, r.message);
    const views = this.sql
      .all<RecordRow>('SELECT id, class, storage_id, scope, label, alias FROM _resource_record ORDER BY id')
      .map((r) => ({
        id: r.id,
        class: r.class,
        label: r.label,
        alias: r.alias,
        storageId: r.storage_id,
        scope: r.scope === '' ? null : r.scope,
        attributes: attrs.get(r.id) ?? {},
        reportedBy: reporters.get(r.id) ?? [],
      }));
    return { views, parents, children, alertMessages };
  }

  /** Every record, by id. */
  all(): ResourceSummary[] {
    return this.sql.all<ResourceSummary>('SELECT id, class, label, alias FROM _resource_record ORDER BY id');
  }

  resourcesOfClass(cls: string): ResourceSummary[] {
    return this.sql.all<ResourceSummary>(
      'SELECT id, class, label, alias FROM _resource_record WHERE class = ? ORDER BY id',
      cls,
    );
  }

  /**
   * The records of class `cls` a root reports (its own record, those scoped to it, the GlobalId
   * ones it reports), each with the value of one attribute (null when unset), by id: how Berth's
   * objects find the volume groups and mounts a host reports (links/).
   */
  recordsOfRootWithAttribute(
    root: string,
    cls: string,
    attribute: string,
  ): { id: number; value: StoredValue }[] {
    return this.sql
      .all<{ id: number; value: string | null; ref_id: number | null }>(
        `SELECT r.id, a.value, a.ref_id FROM _resource_record r
           LEFT JOIN _resource_attribute a ON a.record_id = r.id AND a.name = ?
         WHERE r.class = ? AND (r.scope = ?
           OR r.id IN (SELECT record_id FROM _resource_reported_by WHERE root = ?)
           OR r.id IN (SELECT record_id FROM _resource_root WHERE root = ?))
         ORDER BY r.id`,
        attribute,
        cls,
        root,
        root,
        root,
      )
      .map((r) => ({
        id: r.id,
        value:
          r.ref_id !== null
            ? { record: r.ref_id }
            : r.value === null
              ? null
              : (JSON.parse(r.value) as StoredValue),
      }));
  }

  rootRecord(root: string): number | undefined {
    return this.sql.get<{ record_id: number }>('SELECT record_id FROM _resource_root WHERE root = ?', root)
      ?.record_id;
  }

  roots(): string[] {
    return this.sql.all<{ root: string }>('SELECT root FROM _resource_root ORDER BY root').map((r) => r.root);
  }

  parents(id: number): number[] {
    return this.sql
      .all<{ parent_id: number }>(
        'SELECT parent_id FROM _resource_parent WHERE child_id = ? ORDER BY parent_id',
        id,
      )
      .map((r) => r.parent_id);
  }

  children(id: number): number[] {
    return this.sql
      .all<{ child_id: number }>(
        'SELECT child_id FROM _resource_parent WHERE parent_id = ? ORDER BY child_id',
        id,
      )
      .map((r) => r.child_id);
  }

  ancestors(id: number): number[] {
    return ancestorIds(this.sql, id);
  }

  descendants(id: number): number[] {
    return descendantIds(this.sql, id);
  }

  /** The records `id` is related to as a subscriber (IML's what_provides). */
  whatProvides(id: number): number[] {
    return whatProvides(this.sql, id);
  }

  /** Active alerts on the resource and those propagated to it from its ancestors. */
  activeAlerts(id: number): AlertView[] {
    const own = this.sql.all<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM _resource_alert a WHERE a.record_id = ? AND a.active = 1 ORDER BY a.id`,
      id,
    );
    const propagated = this.sql.all<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM _resource_alert a JOIN _resource_alert_propagated p ON p.alert_id = a.id
       WHERE p.record_id = ? AND a.active = 1 ORDER BY a.id`,
      id,
    );
    return [...own.map((r) => alertView(r, false)), ...propagated.map((r) => alertView(r, true))];
  }

  /** Alerts, newest first: all (history included) or only active ones, optionally of one root. */
  alerts(opts: { active?: boolean; root?: string } = {}): AlertView[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (opts.active !== undefined) {
      where.push('a.active = ?');
      params.push(opts.active ? 1 : 0);
    }
    if (opts.root !== undefined) {
      where.push('a.root = ?');
      params.push(opts.root);
    }
    const sql = `SELECT ${ALERT_COLUMNS} FROM _resource_alert a ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY a.id DESC`;
    return this.sql.all<AlertRow>(sql, ...params).map((r) => alertView(r, false));
  }

  /** Records an alert is propagated to. */
  propagatedTo(alertId: number): number[] {
    return this.sql
      .all<{ record_id: number }>(
        'SELECT record_id FROM _resource_alert_propagated WHERE alert_id = ? ORDER BY record_id',
        alertId,
      )
      .map((r) => r.record_id);
  }

  /** Latest sample of each statistic of a resource: name → [epoch seconds, value]. */
  latestStatistics(id: number): Record<string, [number, number | number[]]> {
    const out: Record<string, [number, number | number[]]> = {};
    for (const r of this.sql.all<{ name: string; ts: number; value: string }>(
      'SELECT name, ts, value FROM _resource_statistic_latest WHERE record_id = ? ORDER BY name',
      id,
    ))
      out[r.name] = [r.ts, JSON.parse(r.value)];
    return out;
  }

  /** Kept samples of one statistic, oldest first. */
  statisticHistory(id: number, name: string): [number, number | number[]][] {
    return this.sql
      .all<{ ts: number; value: string }>(
        'SELECT ts, value FROM _resource_statistic_sample WHERE record_id = ? AND name = ? ORDER BY ts',
        id,
        name,
      )
      .map((r) => [r.ts, JSON.parse(r.value)]);
  }

  /** What GET /metrics shows: statistics, active alerts, counts per class (metric-queries.ts). */
  metrics(): MetricsSnapshot {
    return metricsSnapshot(this.sql);
  }
}
