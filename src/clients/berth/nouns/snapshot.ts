// `berth snapshot`: VM snapshots (VMs with is_a_snapshot), taken with `berth vm -n X snapshot`.
import type { NounSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';
import { runTask, single } from './compute-common.js';
import { deleteVm } from './vm.js';
import { xvaExportVerb } from './vm-xva.js';

export const snapshotNoun: NounSpec = {
  name: 'snapshot',
  summary: 'VM snapshots',
  xapiClass: 'VM',
  filter: (r) => Boolean(r.is_a_snapshot),
  listColumns: ['name_label', 'uuid', 'snapshot_time'],
  verbs: [
    listVerb(),
    exportVerb(),
    {
      name: 'revert',
      summary: 'bring the VM the snapshot was taken of back to it',
      target: 'one',
      long: true,
      run: async (ctx, target) => {
        await runTask(ctx.api, ctx.out, 'revert', 'VM.revert', single(target).ref);
        return true;
      },
    },
    {
      name: 'delete',
      aliases: ['remove'],
      summary: "remove the snapshot and its disks' snapshots (-d keeps them)",
      target: 'one',
      options: [{ short: 'd', long: 'detach_only', kind: 'flag', help: 'keep the disk snapshots' }],
      run: async (ctx, target) => {
        await deleteVm(ctx.api, single(target).ref, Boolean(ctx.opts.detach_only));
        return true;
      },
    },
    xvaExportVerb(),
  ],
};
