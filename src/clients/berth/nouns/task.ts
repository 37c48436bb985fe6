// `berth task` (oVirt's job): the manager's tasks (Async calls, long operations).
import { many } from '../infra/lookup.js';
import { usageError } from '../errors.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

const cancel: VerbSpec = {
  name: 'cancel',
  summary: 'cancel the selected pending tasks (task.cancel)',
  target: 'many',
  run: async (ctx, target) => {
    const s = ctx.selection;
    if (s.id === undefined && s.name === undefined && s.search === undefined)
      throw usageError('select the tasks to cancel (-i, -n or -s)');
    for (const t of many(target)) await ctx.api.call('task.cancel', t.ref);
    return true;
  },
};

export const taskNoun: NounSpec = {
  name: 'task',
  aliases: ['job'],
  summary: 'tasks (oVirt jobs): Async calls and long operations',
  xapiClass: 'task',
  listColumns: ['uuid', 'name_label', 'status', 'progress'],
  verbs: [listVerb(), exportVerb(), cancel],
};
