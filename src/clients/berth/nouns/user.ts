// `berth user`: XenAPI subjects — the users given roles through the API (subject.add_to_roles).
// Berth's local accounts themselves live outside XenAPI (berth-admin manages them), so a user
// shows here once it is a subject: `berth user add -n alice -r vm-admin`.
import type { Api, ApiObject } from '../api.js';
import { usageError } from '../errors.js';
import { findOne, one } from '../infra/lookup.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

const ROLE_OPTION = {
  short: 'r',
  long: 'role',
  kind: 'value',
  repeat: true,
  help: 'role name (pool-admin, vm-admin…)',
} as const;

/** Roles named by -r: top-level ones only (permissions are internal roles). */
async function rolesNamed(api: Api, names: unknown): Promise<ApiObject[]> {
  const list = ([] as unknown[]).concat(names ?? []).map(String);
  const out: ApiObject[] = [];
  for (const n of list) {
    const r = await findOne(api, 'role', n);
    if (r.record.is_internal) throw usageError(`'${n}' is a permission, not a role`);
    out.push(r);
  }
  return out;
}

const add: VerbSpec = {
  name: 'add',
  aliases: ['create'],
  summary: 'make a user a subject (subject.create), with roles',
  examples: ['berth user add -n alice -r vm-admin'],
  target: 'none',
  options: [{ short: 'n', long: 'name', kind: 'value', help: 'user name (subject identifier)' }, ROLE_OPTION],
  run: async (ctx) => {
    const { api, opts } = ctx;
    if (!opts.name) throw usageError('a user name (-n) is required');
    const roles = await rolesNamed(api, opts.role);
    // A new subject starts as pool-admin (xapi's default): berth never leaves that silently, the
    // roles given replace it.
    if (roles.length === 0) throw usageError('give the user its roles (-r vm-operator …)');
    const ref = (await api.call('subject.create', {
      subject_identifier: String(opts.name),
      other_config: { 'subject-name': String(opts.name) },
    })) as string;
    const initial = (await api.call('subject.get_roles', ref)) as string[];
    const wanted = new Set(roles.map((r) => r.ref));
    for (const r of wanted) if (!initial.includes(r)) await api.call('subject.add_to_roles', ref, r);
    for (const r of initial) if (!wanted.has(r)) await api.call('subject.remove_from_roles', ref, r);
    return api.byRef('subject', ref);
  },
};

const remove: VerbSpec = {
  name: 'remove',
  aliases: ['delete'],
  summary: "remove the subject (subject.destroy; the user's sessions end)",
  target: 'one',
  run: async (ctx, target) => {
    await ctx.api.call('subject.destroy', one(target).ref);
    return true;
  },
};

function roleChange(name: 'addrole' | 'removerole'): VerbSpec {
  const method = name === 'addrole' ? 'subject.add_to_roles' : 'subject.remove_from_roles';
  return {
    name,
    summary: name === 'addrole' ? 'give the user roles' : 'take roles from the user',
    target: 'one',
    options: [ROLE_OPTION],
    run: async (ctx, target) => {
      const roles = await rolesNamed(ctx.api, ctx.opts.role);
      if (roles.length === 0) throw usageError('no role given (-r)');
      for (const r of roles) await ctx.api.call(method, one(target).ref, r.ref);
      return true;
    },
  };
}

/** oVirtCmd's `has role '<role>' on <object>`: XenAPI roles apply pool-wide, to (system). */
const roles: VerbSpec = {
  name: 'roles',
  summary: "the user's roles, one line each",
  target: 'one',
  run: async (ctx, target) => {
    const lines: string[] = [];
    for (const ref of (one(target).record.roles as string[]) ?? []) {
      const name = await ctx.api.call('role.get_name_label', ref);
      lines.push(`has role '${String(name)}' on (system)`);
    }
    return lines.length ? lines.sort().join('\n') : undefined;
  },
};

const permits: VerbSpec = {
  name: 'permits',
  summary: "the permissions the user's roles grant, per object",
  target: 'one',
  run: async (ctx, target) => {
    const names = (await ctx.api.call('subject.get_permissions_name_label', one(target).ref)) as string[];
    if (names.length === 0) return undefined;
    return ['(system):', ...[...names].sort().map((n) => `  ${n}`)].join('\n');
  },
};

export const userNoun: NounSpec = {
  name: 'user',
  summary: 'users given roles through the API (XenAPI subjects)',
  xapiClass: 'subject',
  nameField: 'subject_identifier',
  listColumns: ['uuid', 'subject_identifier'],
  verbs: [
    listVerb(),
    exportVerb(),
    add,
    remove,
    roleChange('addrole'),
    roleChange('removerole'),
    roles,
    permits,
  ],
};
