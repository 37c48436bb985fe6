// `berth vm -n X copy -n NAME [--sr SR]`: a new halted VM from a halted one. Without --sr it is
// VM.clone (fast, disks shared copy-on-write where the SR can), with --sr VM.copy (full copies
// of the disks into that SR, a progress bar on a terminal) — as `xe vm-clone` / `xe vm-copy`.
import { CliError, EXIT_USAGE } from '../errors.js';
import type { VerbSpec } from '../spec.js';
import { cloneOrCopyVm, optText, single } from './compute-common.js';

export function vmCopyVerb(): VerbSpec {
  return {
    name: 'copy',
    aliases: ['clone'],
    summary: 'make a new halted VM from this one (-n NAME; full copies of its disks into --sr when given)',
    target: 'one',
    long: true,
    options: [
      { short: 'n', long: 'name', kind: 'value', help: 'name of the new VM', metavar: 'NAME' },
      {
        long: 'sr',
        kind: 'value',
        help: 'SR of the copied disks (VM.copy instead of VM.clone)',
        metavar: 'SR',
      },
    ],
    examples: [
      'berth vm -n web01 copy -n web02',
      'berth vm -n web01 copy -n web01-backup --sr "Local storage"',
    ],
    run: async (ctx, target) => {
      const vm = single(target);
      const name = optText(ctx.opts, 'name');
      if (!name) throw new CliError('copy needs a name for the new VM (-n NAME)', EXIT_USAGE);
      const ref = await cloneOrCopyVm(ctx.api, ctx.out, vm.ref, name, optText(ctx.opts, 'sr'));
      return ctx.api.byRef('VM', ref);
    },
  };
}
