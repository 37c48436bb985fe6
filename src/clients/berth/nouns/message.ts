// `berth message`: the pool's messages (alerts xapi raises, `xe message-list`).
import { usageError } from '../errors.js';
import { many } from '../infra/lookup.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

const remove: VerbSpec = {
  name: 'delete',
  aliases: ['remove', 'destroy'],
  summary: 'delete the selected messages (message.destroy_many)',
  examples: ["berth message -s 'priority=5' delete"],
  target: 'many',
  run: async (ctx, target) => {
    const s = ctx.selection;
    // `many` selects every message when nothing is given: never delete them all by accident.
    if (s.id === undefined && s.name === undefined && s.search === undefined)
      throw usageError('select the messages to delete (-i, -n or -s)');
    const refs = many(target).map((m) => m.ref);
    if (refs.length) await ctx.api.call('message.destroy_many', refs);
    return true;
  },
};

export const messageNoun: NounSpec = {
  name: 'message',
  summary: 'messages (alerts) about the pool and its objects',
  xapiClass: 'message',
  nameField: 'name',
  listColumns: ['uuid', 'priority', 'name', 'obj_uuid'],
  verbs: [listVerb(), exportVerb(), remove],
};
