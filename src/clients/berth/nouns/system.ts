// `berth system`: the pool as a whole (oVirt's API root): `export` shows a summary of what it
// holds — `berth system export summary vms active` prints the number of running VMs. oVirt's
// `system reload` (re-read the engine's configuration) has no Berth equivalent and is not offered.
import type { Api, ApiObject } from '../api.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';

interface Counts {
  total: number;
  active: number;
}

const count = <T>(all: T[], active: (x: T) => boolean): Counts => ({
  total: all.length,
  active: all.filter(active).length,
});

/** The pseudo object `system export` walks: nested plain records, as oVirt's system resource. */
export async function systemObject(api: Api): Promise<ApiObject> {
  const [vms, hosts, metrics, srs, pbds, subjects, sessionUsers, pools] = await Promise.all([
    api.allRecords('VM'),
    api.allRecords('host'),
    api.allRecords('host_metrics'),
    api.allRecords('SR'),
    api.allRecords('PBD'),
    api.allRecords('subject'),
    api.call('session.get_all_subject_identifiers') as Promise<string[]>,
    api.allRecords('pool'),
  ]);
  const live = new Set(metrics.filter((m) => m.record.live === true).map((m) => m.ref));
  const attached = new Set(pbds.filter((p) => p.record.currently_attached === true).map((p) => p.record.SR));
  const guests = vms.filter(
    (v) => !v.record.is_a_template && !v.record.is_control_domain && !v.record.is_a_snapshot,
  );
  const master = hosts.find((h) => h.ref === pools[0]?.record.master);
  const sw = (master?.record.software_version ?? {}) as Record<string, string>;
  return {
    cls: 'system',
    ref: 'system',
    record: {
      product_info: {
        name: sw.product_brand ?? 'Berth',
        version: sw.product_version ?? '',
        api_version: `${String(master?.record.API_version_major ?? '')}.${String(master?.record.API_version_minor ?? '')}`,
      },
      summary: {
        vms: count(guests, (v) => v.record.power_state === 'Running'),
        hosts: count(hosts, (h) => h.record.enabled === true && live.has(String(h.record.metrics))),
        storage_domains: count(srs, (s) => attached.has(s.ref)),
        users: { total: subjects.length, active: new Set(sessionUsers).size },
      },
    },
  };
}

function systemExport(): VerbSpec {
  const generic = exportVerb();
  return {
    ...generic,
    summary: 'the pool summary (product_info, summary vms/hosts/storage_domains/users total/active)',
    examples: ['berth system export', 'berth system export summary vms active'],
    target: 'none',
    run: async (ctx) => generic.run(ctx, [await systemObject(ctx.api)]),
  };
}

export const systemNoun: NounSpec = {
  name: 'system',
  summary: 'the pool as a whole: a summary of what it holds',
  listColumns: [],
  verbs: [systemExport()],
};
