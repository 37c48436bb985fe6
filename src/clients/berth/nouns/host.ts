// `berth host`: the hosts of the pool. Maintenance mode is xapi's (and `xe host-evacuate`'s):
// host.disable then host.evacuate; reboot/shutdown keep xapi's rule (the host disabled and
// running no guest: `maintenance` first); upgrades go through the host's `updater` plugin.
import type { Api, ApiObject } from '../api.js';
import { usageError } from '../errors.js';
import { bondRequest } from '../infra/bond-options.js';
import { findOne, one, pifOfHost } from '../infra/lookup.js';
import { statisticsVerb } from '../infra/statistics.js';
import {
  CHECK_FAILED,
  UPGRADE_FAILED,
  UPGRADE_MESSAGES,
  parseCheckUpdate,
  updateLine,
  upgradeExitCode,
} from '../infra/upgrade.js';
import type { NounSpec, VerbOutcome, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

/** Where `maintenance -r` keeps its reason (shown by `export`; removed by `activate`). */
export const MAINTENANCE_REASON_KEY = 'berth-maintenance-reason';

const asyncOption = { short: 'a', long: 'async', kind: 'flag', help: "don't wait for completion" } as const;

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Disables the host (new VMs stay off it) and moves its guests away, as `xe host-evacuate`. */
async function enterMaintenance(api: Api, host: ApiObject, reason: string | undefined, wait: boolean) {
  const wasEnabled = host.record.enabled === true;
  if (wasEnabled) await api.call('host.disable', host.ref);
  if (reason !== undefined) {
    await api.call('host.remove_from_other_config', host.ref, MAINTENANCE_REASON_KEY);
    await api.call('host.add_to_other_config', host.ref, MAINTENANCE_REASON_KEY, reason);
  }
  if (!wait) {
    await api.callAsync('host.evacuate', host.ref);
    return;
  }
  try {
    await api.call('host.evacuate', host.ref);
  } catch (e) {
    // Nothing half-done: a host this verb disabled is enabled again when its guests cannot move.
    if (wasEnabled) await api.call('host.enable', host.ref).catch(() => {});
    throw e;
  }
}

const maintenance: VerbSpec = {
  name: 'maintenance',
  aliases: ['deactivate', 'disable'],
  summary: 'disable the host and migrate its running VMs away (host.disable + host.evacuate)',
  examples: ['berth host -n h1 maintenance -r "disk replacement"'],
  target: 'one',
  long: true,
  options: [{ short: 'r', long: 'reason', kind: 'value', help: 'why (kept in other_config)' }, asyncOption],
  run: async (ctx, target) => {
    const host = one(target);
    await enterMaintenance(ctx.api, host, ctx.opts.reason as string | undefined, !ctx.opts.async);
    return true;
  },
};

const activate: VerbSpec = {
  name: 'activate',
  aliases: ['enable'],
  summary: 'enable the host again (host.enable)',
  target: 'one',
  options: [asyncOption],
  run: async (ctx, target) => {
    const host = one(target);
    if (host.record.enabled !== true) await ctx.api.call('host.enable', host.ref);
    await ctx.api.call('host.remove_from_other_config', host.ref, MAINTENANCE_REASON_KEY);
    return true;
  },
};

const evacuate: VerbSpec = {
  name: 'evacuate',
  summary: 'migrate every running VM off the host (host.evacuate; does not disable it)',
  target: 'one',
  long: true,
  options: [
    { short: 'N', long: 'network', kind: 'value', help: 'network the migrations use' },
    {
      short: 'b',
      long: 'batch_size',
      kind: 'value',
      type: 'int',
      help: 'VMs migrating at once (default 10)',
    },
    asyncOption,
  ],
  run: async (ctx, target) => {
    const host = one(target);
    const args: unknown[] = [host.ref];
    if (ctx.opts.network !== undefined || ctx.opts.batch_size !== undefined) {
      args.push(
        ctx.opts.network
          ? (await findOne(ctx.api, 'network', String(ctx.opts.network))).ref
          : 'OpaqueRef:NULL',
      );
      if (ctx.opts.batch_size !== undefined) args.push(Number(ctx.opts.batch_size));
    }
    if (ctx.opts.async) await ctx.api.callAsync('host.evacuate', ...args);
    else await ctx.api.call('host.evacuate', ...args);
    return true;
  },
};

function powerVerb(name: 'reboot' | 'shutdown'): VerbSpec {
  return {
    name,
    summary: `${name} the host (host.${name}; the host must be disabled and empty: run maintenance first)`,
    examples: [`berth host -n h1 maintenance && berth host -n h1 ${name}`],
    target: 'one',
    run: async (ctx, target) => {
      await ctx.api.call(`host.${name}`, one(target).ref);
      return true;
    },
  };
}

const bond: VerbSpec = {
  name: 'bond',
  summary: 'bond interfaces of the host (Bond.create over its PIFs) on a new or given network',
  examples: [
    'berth host -n newhost bond -i eth0 -i eth1 -o miimon 100 -o mode 4 -o xmit_hash_policy layer3+4 -m 9000',
  ],
  target: 'one',
  usesTemplate: true,
  options: [
    {
      short: 'i',
      long: 'interface',
      kind: 'value',
      repeat: true,
      help: 'interface (PIF device) to add to the bond',
    },
    { short: 'm', long: 'mtu', kind: 'value', type: 'int', help: 'MTU of the bond (its network)' },
    { short: 'n', long: 'network', kind: 'value', help: 'existing network to put the bond on' },
    {
      short: 'o',
      long: 'bond_option',
      kind: 'pair',
      repeat: true,
      metavar: 'NAME',
      help: 'bonding option',
    },
    { short: 'b', long: 'bond_name', kind: 'value', help: 'name of the network made for the bond (bond0)' },
  ],
  run: async (ctx, target) => {
    const host = one(target);
    const { api, opts } = ctx;
    const ifaces = ([] as unknown[]).concat(opts.interface ?? []).map(String);
    if (new Set(ifaces).size < 2) throw usageError('a bond needs at least two interfaces (-i eth0 -i eth1)');
    const options = Object.fromEntries(
      Object.entries((opts.bond_option ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    );
    const req = bondRequest(options);
    const pifs = [];
    for (const iface of ifaces) pifs.push(await pifOfHost(api, host, iface));
    const mtu = opts.mtu === undefined ? undefined : Number(opts.mtu);
    if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535))
      throw usageError(`invalid MTU '${String(opts.mtu)}'`);
    let network: string;
    let made = false;
    if (opts.network !== undefined) {
      network = (await findOne(api, 'network', String(opts.network))).ref;
      if (mtu !== undefined) await api.call('network.set_MTU', network, mtu);
    } else {
      network = (await api.call('network.create', {
        name_label: String(opts.bond_name ?? 'bond0'),
        name_description: `bond of ${ifaces.join(', ')} on ${String(host.record.name_label)}`,
        MTU: mtu ?? 1500,
        other_config: {},
      })) as string;
      made = true;
    }
    try {
      await api.call(
        'Bond.create',
        network,
        pifs.map((p) => p.ref),
        '',
        req.mode,
        req.properties,
      );
    } catch (e) {
      if (made) await api.call('network.destroy', network).catch(() => {});
      throw e;
    }
    return true;
  },
};

const checkUpdates = (api: Api, host: ApiObject) =>
  api
    .call('host.call_plugin', host.ref, 'updater', 'check_update', {})
    .then((t) => parseCheckUpdate(String(t)));

const upgradecheck: VerbSpec = {
  name: 'upgradecheck',
  summary: "list the package updates the host's package manager offers (updater plugin check_update)",
  target: 'one',
  options: [asyncOption],
  run: async (ctx, target) => {
    const host = one(target);
    if (ctx.opts.async) {
      const task = await ctx.api.callAsync('host.call_plugin', host.ref, 'updater', 'check_update', {});
      return String(await ctx.api.call('task.get_uuid', task));
    }
    const updates = await checkUpdates(ctx.api, host);
    return updates.length ? updates.map(updateLine).join('\n') : UPGRADE_MESSAGES[0];
  },
};

const status = (s: number): VerbOutcome => ({ exitCode: upgradeExitCode(s), message: UPGRADE_MESSAGES[s] });

const upgrade: VerbSpec = {
  name: 'upgrade',
  summary: 'put the host in maintenance and apply its package updates (updater plugin update)',
  examples: ['berth host -n h1 upgrade', 'berth host -n h1 upgrade -b'],
  target: 'one',
  long: true,
  options: [
    asyncOption,
    { short: 'r', long: 'refresh', kind: 'flag', help: 'refresh the update check first (always done)' },
    { short: 'b', long: 'reboot', kind: 'flag', help: 'reboot the host after the upgrade' },
  ],
  run: async (ctx, target) => {
    const { api } = ctx;
    const host = one(target);
    let available: number;
    try {
      available = (await checkUpdates(api, host)).length;
    } catch (e) {
      return { exitCode: upgradeExitCode(CHECK_FAILED), message: `Upgrade check failed: ${errorText(e)}` };
    }
    if (available === 0) return status(3);
    await enterMaintenance(api, host, 'For upgrade', true);
    if (ctx.opts.async) {
      await api.callAsync('host.call_plugin', host.ref, 'updater', 'update', {});
      return status(2);
    }
    try {
      await api.call('host.call_plugin', host.ref, 'updater', 'update', {});
    } catch (e) {
      return { exitCode: upgradeExitCode(UPGRADE_FAILED), message: `Upgrade failed: ${errorText(e)}` };
    }
    if (ctx.opts.reboot) await api.call('host.reboot', host.ref);
    return status(1);
  },
};

const remove: VerbSpec = {
  name: 'remove',
  aliases: ['delete', 'forget'],
  summary: 'remove the host from the pool database (host.destroy: it must be offline and empty)',
  target: 'one',
  run: async (ctx, target) => {
    await ctx.api.call('host.destroy', one(target).ref);
    return true;
  },
};

export const hostNoun: NounSpec = {
  name: 'host',
  summary: 'the hosts of the pool',
  xapiClass: 'host',
  listColumns: ['name_label', 'uuid'],
  verbs: [
    listVerb(),
    exportVerb(),
    statisticsVerb('host'),
    maintenance,
    activate,
    evacuate,
    powerVerb('reboot'),
    powerVerb('shutdown'),
    bond,
    upgradecheck,
    upgrade,
    remove,
  ],
};
