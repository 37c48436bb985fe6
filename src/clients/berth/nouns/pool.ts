// `berth pool` (oVirt's cluster and datacenter): the pool this manager runs, its name and default
// SRs. A Berth installation is one pool, so there is no create/remove (hosts join and leave with
// `xe pool-join` / `pool-eject`).
import { findOne, many, one } from '../infra/lookup.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

/** Verb option → pool field it sets with an SR (resolved by name or uuid). */
const SR_FIELDS = {
  default_sr: 'default_SR',
  suspend_sr: 'suspend_image_SR',
  crash_dump_sr: 'crash_dump_SR',
};

const set: VerbSpec = {
  name: 'set',
  aliases: ['update'],
  summary: "change the pool's name, description, default SRs or other-config",
  examples: ['berth pool set -n production --default-sr "Local storage"'],
  target: 'one',
  usesTemplate: true,
  options: [
    { short: 'n', long: 'name', kind: 'value', help: 'new name' },
    { short: 'd', long: 'description', kind: 'value', help: 'new description' },
    { short: 'D', long: 'default_sr', kind: 'value', help: 'SR new disks go to by default' },
    { long: 'suspend_sr', kind: 'value', help: 'SR suspend images go to' },
    { long: 'crash_dump_sr', kind: 'value', help: 'SR crash dumps go to' },
    {
      short: 'o',
      long: 'other_config',
      kind: 'pair',
      repeat: true,
      metavar: 'KEY',
      help: 'other-config entry',
    },
  ],
  run: async (ctx, target) => {
    const pool = one(target);
    const { api, opts } = ctx;
    // Resolve everything first: a bad SR name changes nothing.
    const srs: Array<[string, string]> = [];
    for (const [opt, field] of Object.entries(SR_FIELDS))
      if (opts[opt] !== undefined) srs.push([field, (await findOne(api, 'SR', String(opts[opt]))).ref]);
    if (opts.name !== undefined) await api.call('pool.set_name_label', pool.ref, String(opts.name));
    if (opts.description !== undefined)
      await api.call('pool.set_name_description', pool.ref, String(opts.description));
    for (const [field, ref] of srs) await api.call(`pool.set_${field}`, pool.ref, ref);
    for (const [k, v] of Object.entries((opts.other_config ?? {}) as Record<string, unknown>)) {
      await api.call('pool.remove_from_other_config', pool.ref, k);
      await api.call('pool.add_to_other_config', pool.ref, k, String(v));
    }
    return true;
  },
};

/** The pool's members, as `berth host` lists them (oVirt's cluster → hosts). */
const hosts: VerbSpec = {
  name: 'hosts',
  summary: 'list the hosts of the pool',
  target: 'many',
  run: async (ctx, target) => {
    if (many(target).length === 0) return { records: [] };
    return { records: await ctx.api.allRecords('host'), columns: ['name_label', 'uuid'] };
  },
};

export const poolNoun: NounSpec = {
  name: 'pool',
  aliases: ['cluster', 'datacenter'],
  summary: 'the pool (oVirt cluster / data center): its name, default SRs, hosts',
  xapiClass: 'pool',
  listColumns: ['name_label', 'uuid'],
  verbs: [listVerb(), exportVerb(), set, hosts],
};
