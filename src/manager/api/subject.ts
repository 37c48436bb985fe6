// subject.*: role membership with xapi's checks (ROLE_NOT_FOUND, ROLE_ALREADY_EXISTS), and
// destroy ending the sessions of the user the subject stands for at once (as xapi). Role changes
// reach open sessions on their next call (SessionManager.currentRole).
import { XenApiError } from '../../shared/errors.js';
import type { CallContext, HandlerTable } from './context.js';
import { createRecord } from './implicit.js';

function rolesOf(ctx: CallContext, self: string): string[] {
  return [...((ctx.svc.db.mustGet('subject', self).roles as string[] | undefined) ?? [])];
}

export const subjectApi: HandlerTable = {
  handlers: {
    // As xapi: one subject per identifier (`xe subject-add` twice is refused, not duplicated).
    'subject.create': (ctx, rec) => {
      const { db } = ctx.svc;
      const row = createRecord(db, db.classSpec('subject'), rec);
      for (const [, other] of db.all('subject'))
        if (other.subject_identifier === row.subject_identifier)
          throw new XenApiError('SUBJECT_ALREADY_EXISTS', []);
      return db.create('subject', row);
    },
    'subject.add_to_roles': (ctx, self, role) => {
      const roles = rolesOf(ctx, self);
      const row = ctx.svc.db.get('role', role);
      // Only the top-level roles can be given; permissions (internal roles) cannot.
      if (!row || row.is_internal) throw new XenApiError('ROLE_NOT_FOUND', []);
      if (roles.includes(role)) throw new XenApiError('ROLE_ALREADY_EXISTS', []);
      ctx.svc.db.update('subject', self, { roles: [...roles, role] });
    },
    'subject.remove_from_roles': (ctx, self, role) => {
      const roles = rolesOf(ctx, self);
      if (!roles.includes(role)) throw new XenApiError('ROLE_NOT_FOUND', []);
      ctx.svc.db.update('subject', self, { roles: roles.filter((r) => r !== role) });
    },
    'subject.destroy': (ctx, self) => {
      const { db, sessions } = ctx.svc;
      const identifier = String(db.mustGet('subject', self).subject_identifier);
      db.destroy('subject', self);
      sessions.logoutSubject(identifier);
    },
  },
};
