// The storage-resource part of a scrape (docs/storage-plugins.md "In /metrics"), built from the
// store's metrics snapshot (storage-resources/metric-queries.ts). Pure.
//   berth_storage_resource_<statistic>[_total]   latest value of each Gauge / Counter statistic
//   berth_storage_resource_<statistic>_bins      a BytesHistogram's latest counts, one sample per bin
//   berth_storage_resource_alert                 1 per active alert
//   berth_storage_resource_alerts_active         active alerts per severity (0 included)
//   berth_storage_resources                      records per class
import type { AlertSeverity, ResourceClassInfo } from '../../../shared/storage-resources/session.js';
import type { MetricsSnapshot, StatisticRow } from '../../storage-resources/metric-queries.js';
import type { MetricFamily, Sample } from './exposition.js';

const PREFIX = 'berth_storage_resource_';
export const ALERT_FAMILY = `${PREFIX}alert`;
export const ALERTS_ACTIVE_FAMILY = `${PREFIX}alerts_active`;
export const RESOURCES_FAMILY = 'berth_storage_resources';
const RESERVED = new Set([ALERT_FAMILY, ALERTS_ACTIVE_FAMILY]);

export const SEVERITY_NAMES: Record<AlertSeverity, string> = { 40: 'ERROR', 30: 'WARNING', 20: 'INFO' };

/** A statistic name as a metric-name part: [a-zA-Z0-9_] only, snake_case (promtool's lint). */
export function statisticPart(name: string): string {
  return name
    .replace(/[^a-zA-Z0-9_]/g, '_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

type StatisticType = ResourceClassInfo['statistics'][string];

/** The family a statistic goes to: its name and Prometheus type (Counter: `_total`, promtool's rule). */
export function statisticFamilyName(name: string, type: StatisticType['type']): string {
  const base = `${PREFIX}${statisticPart(name)}`;
  if (type === 'Counter') return base.endsWith('_total') ? base : `${base}_total`;
  if (type === 'BytesHistogram') return `${base}_bins`;
  return base;
}

function helpOf(name: string, t: StatisticType): string {
  const kind = t.type === 'BytesHistogram' ? 'BytesHistogram, latest count per bin' : t.type;
  return `${name}: storage resource statistic (${kind}${t.units ? `, units: ${t.units}` : ''}), latest value`;
}

const resourceLabels = (r: StatisticRow) => ({
  resource: String(r.recordId),
  class: r.class,
  label: r.label,
  root: r.root,
});

function statisticFamilies(snap: MetricsSnapshot): MetricFamily[] {
  const families = new Map<string, MetricFamily>();
  for (const row of snap.statistics) {
    // A class the sessions never declared (cannot happen through the store): a number is a gauge.
    const declared = snap.statisticTypes.get(row.class)?.[row.name];
    const t: StatisticType = declared ?? { type: Array.isArray(row.value) ? 'BytesHistogram' : 'Gauge' };
    const name = statisticFamilyName(row.name, t.type);
    if (RESERVED.has(name)) continue;
    const type = t.type === 'Counter' ? 'counter' : 'gauge';
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, help: helpOf(row.name, t), type, samples: [] }));
    // The same name declared as two types by two classes: the first family's type wins.
    if (f.type !== type) continue;
    const labels = resourceLabels(row);
    if (t.type === 'BytesHistogram') {
      if (!Array.isArray(row.value)) continue;
      const bins = t.bins ?? row.value.map((_, i) => [i]);
      if (bins.length !== row.value.length) continue;
      row.value.forEach((count, i) => {
        const [low, high] = bins[i];
        if (Number.isFinite(count))
          f.samples.push({
            labels: { ...labels, bin_min: String(low), bin_max: high === undefined ? '+Inf' : String(high) },
            value: count,
          });
      });
    } else if (typeof row.value === 'number' && Number.isFinite(row.value)) {
      f.samples.push({ labels, value: row.value });
    }
  }
  return [...families.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function alertFamilies(snap: MetricsSnapshot): MetricFamily[] {
  const perSeverity = new Map<AlertSeverity, number>([
    [40, 0],
    [30, 0],
    [20, 0],
  ]);
  const active: Sample[] = [];
  for (const a of snap.alerts) {
    perSeverity.set(a.severity, (perSeverity.get(a.severity) ?? 0) + 1);
    active.push({
      labels: {
        alert: String(a.id),
        severity: SEVERITY_NAMES[a.severity] ?? String(a.severity),
        alert_class: a.alertClass,
        alert_type: a.kind,
        resource: a.recordId === null ? '' : String(a.recordId),
        class: a.class,
        label: a.label,
        root: a.root,
        message: a.message,
      },
      value: 1,
    });
  }
  return [
    {
      name: ALERT_FAMILY,
      help: 'An active storage-resource alert (1 while raised); its descendants are affected too',
      type: 'gauge',
      samples: active,
    },
    {
      name: ALERTS_ACTIVE_FAMILY,
      help: 'Active storage-resource alerts by severity (own alerts, not counting propagation)',
      type: 'gauge',
      samples: [...perSeverity].map(([s, n]) => ({
        labels: { severity: SEVERITY_NAMES[s] ?? String(s) },
        value: n,
      })),
    },
  ];
}

/** The families of the store's state: statistics (sorted by name), alerts, counts per class. */
export function storageResourceFamilies(snap: MetricsSnapshot): MetricFamily[] {
  return [
    ...statisticFamilies(snap),
    ...alertFamilies(snap),
    {
      name: RESOURCES_FAMILY,
      help: 'Storage resources the plugins reported (records in the store), by plugin.Class',
      type: 'gauge',
      samples: [...snap.classCounts].map(([cls, n]) => ({ labels: { class: cls }, value: n })),
    },
  ];
}
