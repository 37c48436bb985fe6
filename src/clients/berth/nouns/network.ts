// `berth network`: pool-wide networks (a bridge on every host). `create -v TAG -p eth0` also puts
// the network on a VLAN of that PIF (VLAN.create); `remove` takes such VLANs down first so what
// `create` made, `remove` unmakes.
import type { Api } from '../api.js';
import { usageError } from '../errors.js';
import { hostOrMaster, one, pifOfHost } from '../infra/lookup.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

const NULL = 'OpaqueRef:NULL';

function mtuOf(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 68 || n > 65535) throw usageError(`invalid MTU '${String(v)}'`);
  return n;
}

function vlanOf(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 4094) throw usageError(`invalid VLAN tag '${String(v)}' (0-4094)`);
  return n;
}

const create: VerbSpec = {
  name: 'create',
  summary: 'create a network (network.create), optionally on a VLAN of a PIF (VLAN.create)',
  examples: ['berth network create -n storage -m 9000', 'berth network create -n v100 -v 100 -p eth1'],
  target: 'none',
  usesTemplate: true,
  options: [
    { short: 'n', long: 'name', kind: 'value', help: 'name of the network' },
    { short: 'd', long: 'description', kind: 'value', help: 'description' },
    { short: 'm', long: 'mtu', kind: 'value', type: 'int', help: 'MTU (1500)' },
    { short: 'v', long: 'vlan', kind: 'value', type: 'int', help: 'VLAN tag (needs -p)' },
    { short: 'p', long: 'pif', kind: 'value', help: 'PIF (device name) the VLAN is tagged on' },
    { short: 'H', long: 'host', kind: 'value', help: 'host of the PIF (default: the master)' },
  ],
  run: async (ctx) => {
    const { api, opts } = ctx;
    if (!opts.name) throw usageError('a name (-n) is required');
    const mtu = mtuOf(opts.mtu);
    const tag = vlanOf(opts.vlan);
    if ((tag === undefined) !== (opts.pif === undefined))
      throw usageError('a VLAN needs both its tag (-v) and the PIF it is tagged on (-p)');
    const pif =
      opts.pif === undefined
        ? undefined
        : await pifOfHost(api, await hostOrMaster(api, opts.host as string | undefined), String(opts.pif));
    const ref = (await api.call('network.create', {
      name_label: String(opts.name),
      name_description: String(opts.description ?? ''),
      MTU: mtu ?? 1500,
      other_config: {},
    })) as string;
    if (pif && tag !== undefined) {
      try {
        await api.call('VLAN.create', pif.ref, tag, ref);
      } catch (e) {
        await api.call('network.destroy', ref).catch(() => {});
        throw e;
      }
    }
    return api.byRef('network', ref);
  },
};

async function destroyVlans(api: Api, pifs: string[]) {
  for (const p of pifs) {
    const vlan = (await api.call('PIF.get_VLAN_master_of', p)) as string;
    if (vlan && vlan !== NULL) await api.call('VLAN.destroy', vlan);
  }
}

const remove: VerbSpec = {
  name: 'remove',
  aliases: ['delete', 'destroy'],
  summary: 'destroy the network (its VLANs first; network.destroy)',
  target: 'one',
  run: async (ctx, target) => {
    const net = one(target);
    await destroyVlans(ctx.api, (net.record.PIFs as string[]) ?? []);
    await ctx.api.call('network.destroy', net.ref);
    return true;
  },
};

const update: VerbSpec = {
  name: 'update',
  aliases: ['set'],
  summary: "change the network's MTU, name or description",
  examples: ['berth network -n storage update -m 9000'],
  target: 'one',
  options: [
    { short: 'm', long: 'mtu', kind: 'value', type: 'int', help: 'new MTU' },
    { short: 'N', long: 'name', kind: 'value', help: 'new name' },
    { short: 'd', long: 'description', kind: 'value', help: 'new description' },
  ],
  run: async (ctx, target) => {
    const net = one(target);
    const { api, opts } = ctx;
    const mtu = mtuOf(opts.mtu);
    if (mtu === undefined && opts.name === undefined && opts.description === undefined)
      throw usageError('nothing to update (-m, -N or -d)');
    if (mtu !== undefined) await api.call('network.set_MTU', net.ref, mtu);
    if (opts.name !== undefined) await api.call('network.set_name_label', net.ref, String(opts.name));
    if (opts.description !== undefined)
      await api.call('network.set_name_description', net.ref, String(opts.description));
    return true;
  },
};

export const networkNoun: NounSpec = {
  name: 'network',
  summary: 'networks (a bridge on every host of the pool)',
  xapiClass: 'network',
  listColumns: ['name_label', 'uuid'],
  verbs: [listVerb(), exportVerb(), create, remove, update],
};
