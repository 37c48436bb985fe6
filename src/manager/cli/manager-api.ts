// The xe command processor's view of the manager: logins and in-process XenAPI calls through the
// same dispatcher the RPC endpoints use (no second implementation of any operation).
import type { Manager } from '../manager.js';
import type { CliApi } from './types.js';

export function managerCliApi(m: Manager): CliApi {
  const { sessions } = m.svc;
  // On a pool slave, xe gets HOST_IS_SLAVE as API clients do (pool/slave-gate.ts).
  const served = (wire: string, withSession: boolean) => m.svc.pool?.assertServed(wire, withSession);
  return {
    loginWithPassword: async (u, p, address) => {
      await served('session.login_with_password', false);
      return sessions.loginWithPassword(u, p, 'cli', address);
    },
    localLogin: async () => sessions.localLogin('cli'),
    logout: async (s) => sessions.logout(s),
    call: async (s, method, args) => {
      await served(method.replace(/^Async\./, ''), true);
      return m.dispatcher.callInternal(sessions.validate(s), method, args);
    },
  };
}
