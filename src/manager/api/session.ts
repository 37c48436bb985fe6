// session.*: login (with password, Kerberos, or password-less over the local Unix socket), logout,
// password change. Login failures don't say whether the user exists.
import { XenApiError } from '../../shared/errors.js';
import { negotiateLogin } from '../auth/negotiate.js';
import type { HandlerTable } from './context.js';

export const sessionApi: HandlerTable = {
  sessionless: {
    'session.login_with_password': async (ctx, uname, pwd, _version, originator) => {
      if (ctx.conn.local) return ctx.svc.sessions.localLogin(originator);
      // Kerberos (auth/negotiate.ts): an `Authorization: Negotiate` header, or its challenge.
      const kerberos = await negotiateLogin(ctx, uname, originator);
      if (kerberos) return kerberos;
      return ctx.svc.sessions.loginWithPassword(uname, pwd, originator, ctx.conn.remoteAddress);
    },
    'session.slave_local_login_with_password': async (ctx, uname, pwd) => {
      if (ctx.conn.local) return ctx.svc.sessions.localLogin();
      return ctx.svc.sessions.loginWithPassword(uname, pwd, '', ctx.conn.remoteAddress);
    },
  },
  handlers: {
    'session.logout': (ctx) => ctx.svc.sessions.logout(ctx.session.ref),
    'session.local_logout': (ctx) => ctx.svc.sessions.logout(ctx.session.ref),
    'session.change_password': async (ctx, oldPwd, newPwd) => {
      const name = ctx.session.userName;
      // Over the local socket root needs no password, as with xapi; otherwise the old one must match.
      if (!(ctx.conn.local && ctx.session.superuser)) {
        const ok = await ctx.svc.sessions.checkPassword(name, oldPwd, ctx.conn.remoteAddress);
        if (!ok) throw new XenApiError('SESSION_AUTHENTICATION_FAILED', [name, 'Authentication failure']);
      }
      if (newPwd.length < 1) throw new XenApiError('INVALID_VALUE', ['new_pwd', '']);
      await ctx.svc.users.setPassword(name, newPwd);
      ctx.svc.sessions.logoutUser(name, ctx.session.ref);
    },
    // Subjects stand for local users by name (auth/sessions.ts): the identifiers of the users
    // with open password sessions, and logging all of one's sessions out.
    'session.get_all_subject_identifiers': (ctx) => ctx.svc.sessions.subjectIdentifiers(),
    'session.logout_subject_identifier': (ctx, identifier) => ctx.svc.sessions.logoutSubject(identifier),
  },
};
