// `berth vbd`: the attachments of disks to VMs (`-n` matches the device number, `-i` the uuid).
import { CliError, EXIT_USAGE } from '../errors.js';
import type { NounSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';
import { actionVerb, optText, refOf, single } from './compute-common.js';
import { attachVdi } from './vm-device-ops.js';

export const vbdNoun: NounSpec = {
  name: 'vbd',
  summary: 'disk attachments (virtual block devices)',
  xapiClass: 'VBD',
  nameField: 'userdevice',
  listColumns: ['uuid', 'userdevice', 'type', 'currently_attached'],
  verbs: [
    listVerb(),
    exportVerb(),
    actionVerb('plug', 'hot-plug the disk into its running VM', 'VBD.plug'),
    actionVerb('unplug', 'hot-unplug the disk from its running VM', 'VBD.unplug'),
    {
      name: 'create',
      summary: 'attach a disk to a VM (-v VM -d VDI [--bootable]) at the next free device',
      target: 'none',
      options: [
        { short: 'v', long: 'vm', kind: 'value', help: 'the VM', metavar: 'VM' },
        { short: 'd', long: 'vdi', kind: 'value', help: 'the disk (name or uuid)', metavar: 'VDI' },
        { long: 'bootable', kind: 'flag', help: 'boot from it' },
      ],
      run: async (ctx) => {
        const vm = optText(ctx.opts, 'vm');
        const vdi = optText(ctx.opts, 'vdi');
        if (!vm || !vdi) throw new CliError('vbd create needs a VM (-v) and a disk (-d)', EXIT_USAGE);
        const ref = await attachVdi(
          ctx.api,
          await refOf(ctx.api, 'VM', vm),
          await refOf(ctx.api, 'VDI', vdi),
          Boolean(ctx.opts.bootable),
        );
        return ctx.api.byRef('VBD', ref);
      },
    },
    {
      name: 'remove',
      aliases: ['delete'],
      summary: 'detach the disk (unplugged first if attached; the disk stays)',
      target: 'one',
      run: async (ctx, target) => {
        const vbd = single(target).ref;
        if (await ctx.api.call('VBD.get_currently_attached', vbd)) await ctx.api.call('VBD.unplug', vbd);
        await ctx.api.call('VBD.destroy', vbd);
        return true;
      },
    },
  ],
};
