// What a slave answers. As on xapi, API clients talk to the master only: a slave refuses a login
// with HOST_IS_SLAVE [master address] (clients such as `xen-api` reconnect there), and every other
// call as well, except the emergency set xapi serves on a slave with a local session
// (session.slave_local_login_with_password) so that an administrator can repair a pool whose
// master died.
import { XenApiError } from '../../shared/errors.js';
import type { PoolRole } from './role.js';

/** Sessionless messages a slave serves itself. */
const SLAVE_SESSIONLESS = new Set(['session.slave_local_login_with_password']);

/** Messages a slave serves to a session of its own (emergency mode). */
const SLAVE_EMERGENCY = new Set([
  'session.local_logout',
  'session.logout',
  'pool.emergency_transition_to_master',
  'pool.emergency_reset_master',
  'host.get_servertime',
  'host.get_server_localtime',
  // The tasks of this host's own sessions (tasks are per host): an Async.pool.join's task is
  // created here before the host becomes a slave, and its caller must still see it finish.
  'task.get_record',
  'task.get_status',
  'task.get_progress',
  'task.get_result',
  'task.get_error_info',
  'task.get_uuid',
  'task.get_by_uuid',
  'task.get_all',
  'task.get_all_records',
  'task.destroy',
]);

/** Throws HOST_IS_SLAVE when this host is a slave and `wire` is not one it serves. */
export function assertServedHere(role: PoolRole, wire: string, withSession: boolean): void {
  if (role.kind !== 'slave') return;
  if (withSession ? SLAVE_EMERGENCY.has(wire) : SLAVE_SESSIONLESS.has(wire)) return;
  throw new XenApiError('HOST_IS_SLAVE', [role.master]);
}
