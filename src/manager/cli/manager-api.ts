// The xe command processor's view of the manager: logins and in-process XenAPI calls through the
// same dispatcher the RPC endpoints use (no second implementation of any operation).
import type { Manager } from '../manager.js';
import type { CliApi } from './types.js';

export function managerCliApi(m: Manager): CliApi {
  const { sessions } = m.svc;
  return {
    loginWithPassword: (u, p, address) => sessions.loginWithPassword(u, p, 'cli', address),
    localLogin: async () => sessions.localLogin('cli'),
    logout: async (s) => sessions.logout(s),
    call: (s, method, args) => m.dispatcher.callInternal(sessions.validate(s), method, args),
  };
}
