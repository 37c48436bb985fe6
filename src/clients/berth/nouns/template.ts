// `berth template`: XenAPI templates (VMs with is_a_template, snapshots aside). A VM is made
// from one with `instantiate` (VM.clone, or VM.copy into --sr, then VM.provision: xe vm-install).
import { CliError, EXIT_USAGE } from '../errors.js';
import type { NounSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';
import { cloneOrCopyVm, optText, runTask, single } from './compute-common.js';
import { deleteVm } from './vm.js';
import { xvaExportVerb } from './vm-xva.js';

export const templateNoun: NounSpec = {
  name: 'template',
  summary: 'VM templates',
  xapiClass: 'VM',
  filter: (r) => Boolean(r.is_a_template) && !r.is_a_snapshot,
  listColumns: ['name_label', 'uuid'],
  verbs: [
    listVerb(),
    exportVerb(),
    {
      name: 'instantiate',
      aliases: ['create-vm'],
      summary: 'make a halted VM from the template (-n NAME; its disks into --sr when given)',
      target: 'one',
      long: true,
      options: [
        { short: 'n', long: 'name', kind: 'value', help: 'name of the new VM', metavar: 'NAME' },
        { long: 'sr', kind: 'value', help: 'SR of the copied disks (copy instead of clone)', metavar: 'SR' },
      ],
      examples: ['berth template -n "Berth test guest" instantiate -n guest01'],
      run: async (ctx, target) => {
        const tmpl = single(target);
        const name = optText(ctx.opts, 'name');
        if (!name) throw new CliError('instantiate needs a name (-n NAME)', EXIT_USAGE);
        const vm = await cloneOrCopyVm(ctx.api, ctx.out, tmpl.ref, name, optText(ctx.opts, 'sr'));
        try {
          await runTask(ctx.api, ctx.out, 'provision', 'VM.provision', vm);
          await ctx.api.call('VM.set_is_a_template', vm, false);
        } catch (e) {
          await deleteVm(ctx.api, vm, false).catch(() => undefined);
          throw e;
        }
        return ctx.api.byRef('VM', vm);
      },
    },
    {
      name: 'delete',
      aliases: ['remove'],
      summary: 'remove the template and its disks (-d keeps the disks)',
      target: 'one',
      options: [{ short: 'd', long: 'detach_only', kind: 'flag', help: 'keep the disks' }],
      run: async (ctx, target) => {
        await deleteVm(ctx.api, single(target).ref, Boolean(ctx.opts.detach_only));
        return true;
      },
    },
    xvaExportVerb(),
  ],
};
