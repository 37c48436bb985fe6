// `berth vif` (oVirt's `nic`): VMs' network interfaces (`-n` matches the device number).
import { CliError, EXIT_USAGE } from '../errors.js';
import type { NounSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';
import { actionVerb, optText, refOf, single } from './compute-common.js';
import { addVif } from './vm-device-ops.js';

export const vifNoun: NounSpec = {
  name: 'vif',
  aliases: ['nic'],
  summary: 'network interfaces of VMs',
  xapiClass: 'VIF',
  nameField: 'device',
  listColumns: ['uuid', 'device', 'MAC', 'currently_attached'],
  verbs: [
    listVerb(),
    exportVerb(),
    actionVerb('plug', 'hot-plug the NIC into its running VM', 'VIF.plug'),
    actionVerb('unplug', 'hot-unplug the NIC from its running VM', 'VIF.unplug'),
    {
      name: 'create',
      summary: 'add a NIC to a VM (-v VM --network NET [--mac MAC]) at the next free device',
      target: 'none',
      options: [
        { short: 'v', long: 'vm', kind: 'value', help: 'the VM', metavar: 'VM' },
        { long: 'network', kind: 'value', help: 'the network (name or uuid)', metavar: 'NET' },
        { long: 'mac', kind: 'value', help: 'MAC address (default: generated)', metavar: 'MAC' },
      ],
      run: async (ctx) => {
        const vm = optText(ctx.opts, 'vm');
        const net = optText(ctx.opts, 'network');
        if (!vm || !net)
          throw new CliError('vif create needs a VM (-v) and a network (--network)', EXIT_USAGE);
        const ref = await addVif(
          ctx.api,
          await refOf(ctx.api, 'VM', vm),
          await refOf(ctx.api, 'network', net),
          optText(ctx.opts, 'mac') ?? '',
        );
        return ctx.api.byRef('VIF', ref);
      },
    },
    {
      name: 'remove',
      aliases: ['delete'],
      summary: 'remove the NIC (unplugged first if attached)',
      target: 'one',
      run: async (ctx, target) => {
        const vif = single(target).ref;
        if (await ctx.api.call('VIF.get_currently_attached', vif)) await ctx.api.call('VIF.unplug', vif);
        await ctx.api.call('VIF.destroy', vif);
        return true;
      },
    },
  ],
};
