// `berth storage-resource`: the storage hardware storage plugins report (docs/storage-plugins.md
// "Through the API and xe"): resources, their alerts and latest statistics. `-n` matches the
// resource's label.
import { many } from '../infra/lookup.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

interface Alert {
  id: number;
  resource: string;
  severity: string;
  message: string;
  active: boolean;
  raised: string;
  propagated: boolean;
}

/** `<raised> <SEVERITY> <message> [resource uuid]`, with `(cleared)` for history. */
export const alertLine = (a: Alert): string =>
  `${a.raised} ${a.severity} ${a.message}${a.propagated ? ' (propagated)' : ''}${a.active ? '' : ' (cleared)'} [${a.resource}]`;

const alerts: VerbSpec = {
  name: 'alerts',
  summary: "alerts of the selected resources (own and propagated), else the pool's",
  examples: ['berth storage-resource alerts', "berth storage-resource -n 'HardDrive 7' alerts -a"],
  target: 'many',
  options: [{ short: 'a', long: 'all', kind: 'flag', help: 'include cleared alerts (history)' }],
  run: async (ctx, target) => {
    const { api, opts, selection: s } = ctx;
    const history = opts.all === true;
    let list: Alert[];
    if (s.id === undefined && s.name === undefined && s.search === undefined) {
      list = (await api.call('storage_resource.get_all_alerts', history)) as Alert[];
    } else {
      const seen = new Map<string, Alert>();
      for (const r of many(target))
        for (const a of (await api.call('storage_resource.get_alerts', r.ref)) as Alert[])
          if (history || a.active) seen.set(`${a.id}/${a.resource}/${a.propagated}`, a);
      list = [...seen.values()].sort((a, b) => b.raised.localeCompare(a.raised));
    }
    return list.length ? list.map(alertLine).join('\n') : undefined;
  },
};

const statistics: VerbSpec = {
  name: 'statistics',
  summary: 'the latest value of each statistic of the selected resources',
  target: 'many',
  run: async (ctx, target) => {
    const lines: string[] = [];
    for (const r of many(target)) {
      const stats = (await ctx.api.call('storage_resource.get_statistics', r.ref)) as Record<string, string>;
      for (const [k, v] of Object.entries(stats).sort(([a], [b]) => a.localeCompare(b)))
        lines.push(`${String(r.record.label)} ${k}: ${v}`);
    }
    return lines.length ? lines.join('\n') : undefined;
  },
};

export const storageResourceNoun: NounSpec = {
  name: 'storage-resource',
  summary: 'storage hardware reported by storage plugins (arrays, drives, LUNs…)',
  xapiClass: 'storage_resource',
  nameField: 'label',
  listColumns: ['uuid', 'label', 'class_name'],
  verbs: [listVerb(), exportVerb(), alerts, statistics],
};
