// `statistics`: the data sources of a host or SR (`<class>.get_data_sources`), one line each as
// oVirtCmd prints statistics: `<name>: <value> <unit> (<type>)`. XenAPI's data_source carries no
// kind (gauge/counter), so the type in brackets is its description (docs/decisions.md).
import type { VerbSpec } from '../spec.js';
import { many } from './lookup.js';

interface DataSource {
  name_label: string;
  name_description: string;
  units: string;
  value: unknown;
}

const valueText = (v: unknown): string =>
  typeof v === 'number' && Number.isFinite(v)
    ? String(v)
    : v === undefined || v === null
      ? 'unknown'
      : String(v);

export function statisticLine(ds: DataSource): string {
  const head = [`${ds.name_label}:`, valueText(ds.value), ds.units].filter((s) => s !== '').join(' ');
  return ds.name_description ? `${head} (${ds.name_description})` : head;
}

export function statisticsVerb(cls: string): VerbSpec {
  return {
    name: 'statistics',
    summary: `the data sources of each selected ${cls}: name, latest value, unit and description`,
    target: 'many',
    run: async (ctx, target) => {
      const lines: string[] = [];
      for (const o of many(target)) {
        const sources = (await ctx.api.call(`${cls}.get_data_sources`, o.ref)) as DataSource[];
        for (const ds of [...sources].sort((a, b) => a.name_label.localeCompare(b.name_label)))
          lines.push(statisticLine(ds));
      }
      return lines.length ? lines.join('\n') : undefined;
    },
  };
}
