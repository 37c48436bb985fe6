// What /metrics says, built from every host's latest values (the agents' `stats_latest`) and the
// names the database gives uuids: one gauge family per data source (`berth_<owner>_<name>`),
// labelled host / vm / sr / name_label, plus `berth_scrape_host_up` for each host asked. Pure.
import type { LatestValues, RrdOwner } from '../../../shared/host/stats.js';
import { type MetricFamily, metricName, type Sample } from './exposition.js';

/** One host as the scrape saw it: `latest` absent when its agent was offline, slow or failing. */
export interface HostScrape {
  uuid: string;
  nameLabel: string;
  latest?: LatestValues;
}

/** The description and units of a data source (the shared catalog's DataSourceSpec fields). */
export type Describe = (owner: RrdOwner, name: string) => { description: string; units: string } | undefined;

/** name_label of a VM / SR by uuid (undefined: not in the database, e.g. just destroyed). */
export interface NameLookup {
  vm(uuid: string): string | undefined;
  sr(uuid: string): string | undefined;
}

export const HOST_UP = 'berth_scrape_host_up';

/** `cpu0: Physical CPU usage (units: fraction)`; the xapi name first, as sanitising may blur it. */
export function helpText(owner: RrdOwner, name: string, describe: Describe): string {
  const d = describe(owner, name);
  if (!d) return `${name}: ${owner} data source ${name}`;
  const units = d.units.replace(/^\((.*)\)$/, '$1');
  return `${name}: ${d.description}${units ? ` (units: ${units})` : ''}`;
}

interface Builder {
  families: Map<string, MetricFamily>;
  describe: Describe;
}

function add(
  b: Builder,
  owner: RrdOwner,
  values: Record<string, number | null>,
  labels: Record<string, string>,
) {
  for (const [ds, value] of Object.entries(values)) {
    // Unknown values are left out: an absent series is what Prometheus treats as "no data".
    if (value === null || !Number.isFinite(value)) continue;
    const name = metricName(owner, ds);
    let f = b.families.get(name);
    if (!f) {
      f = { name, help: helpText(owner, ds, b.describe), type: 'gauge', samples: [] };
      b.families.set(name, f);
    }
    f.samples.push({ labels, value });
  }
}

const byKey = <T>(o: Record<string, T>): [string, T][] =>
  Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** The families of a scrape: data sources sorted by metric name, then the host-up gauge. */
export function metricFamilies(
  hosts: readonly HostScrape[],
  names: NameLookup,
  describe: Describe,
): MetricFamily[] {
  const b: Builder = { families: new Map(), describe };
  const up: Sample[] = [];
  for (const h of hosts) {
    up.push({ labels: { host: h.uuid, name_label: h.nameLabel }, value: h.latest ? 1 : 0 });
    if (!h.latest) continue;
    add(b, 'host', h.latest.host, { host: h.uuid, name_label: h.nameLabel });
    for (const [vm, values] of byKey(h.latest.vms))
      add(b, 'vm', values, { host: h.uuid, vm, name_label: names.vm(vm) ?? '' });
    for (const [sr, values] of byKey(h.latest.srs))
      add(b, 'sr', values, { host: h.uuid, sr, name_label: names.sr(sr) ?? '' });
  }
  const families = [...b.families.values()].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  families.push({
    name: HOST_UP,
    help: "1 if the host's agent answered this scrape in time, 0 if it was offline, slow or failed",
    type: 'gauge',
    samples: up,
  });
  return families;
}
