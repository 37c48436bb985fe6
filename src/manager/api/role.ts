// role.*: the explicit role queries. Role and permission objects themselves are ordinary
// stored objects created at start-up (see bootstrap/roles.ts), so the implicit getters serve them.
import { XenApiError } from '../../shared/errors.js';
import type { CallContext, HandlerTable } from './context.js';

function permissionsOf(ctx: CallContext, role: string): string[] {
  return (ctx.svc.db.mustGet('role', role).subroles as string[]) ?? [];
}

function rolesWithPermission(ctx: CallContext, permission: string): string[] {
  const out: string[] = [];
  for (const [ref, row] of ctx.svc.db.all('role')) {
    if (!row.is_internal && (row.subroles as string[]).includes(permission)) out.push(ref);
  }
  return out;
}

export const roleApi: HandlerTable = {
  handlers: {
    'role.get_permissions': (ctx, self) => permissionsOf(ctx, self),
    'role.get_permissions_name_label': (ctx, self) =>
      permissionsOf(ctx, self).map((r) => String(ctx.svc.db.get('role', r)?.name_label ?? '')),
    'role.get_by_permission': (ctx, permission) => {
      ctx.svc.db.mustGet('role', permission);
      return rolesWithPermission(ctx, permission);
    },
    'role.get_by_permission_name_label': (ctx, label) => {
      for (const [ref, row] of ctx.svc.db.all('role')) {
        if (row.is_internal && row.name_label === label) return rolesWithPermission(ctx, ref);
      }
      throw new XenApiError('INVALID_VALUE', ['label', label]);
    },
    'subject.get_permissions_name_label': (ctx, self) => {
      const roles = ctx.svc.db.mustGet('subject', self).roles as string[];
      const names = new Set<string>();
      for (const r of roles) {
        const row = ctx.svc.db.get('role', r);
        if (!row) continue;
        names.add(String(row.name_label));
        for (const p of row.subroles as string[])
          names.add(String(ctx.svc.db.get('role', p)?.name_label ?? ''));
      }
      return [...names];
    },
  },
};
