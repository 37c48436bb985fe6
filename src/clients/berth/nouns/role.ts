// `berth role`: xapi's six static RBAC roles (the permissions, internal roles, are not listed;
// `permits` shows a role's).
import { many } from '../infra/lookup.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

const permits: VerbSpec = {
  name: 'permits',
  summary: 'the permissions each selected role grants',
  target: 'many',
  run: async (ctx, target) => {
    const lines: string[] = [];
    for (const r of many(target)) {
      const names = (await ctx.api.call('role.get_permissions_name_label', r.ref)) as string[];
      lines.push(`${String(r.record.name_label)}:`, ...[...names].sort().map((n) => `  ${n}`));
    }
    return lines.length ? lines.join('\n') : undefined;
  },
};

export const roleNoun: NounSpec = {
  name: 'role',
  summary: 'RBAC roles',
  xapiClass: 'role',
  filter: (r) => r.is_internal !== true,
  listColumns: ['uuid', 'name_label'],
  verbs: [listVerb(), exportVerb(), permits],
};
