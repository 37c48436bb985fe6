// The statistics handlers on a pool slave. Sessions live on the master (they are not replicated)
// and only the master keeps a client of each member's agent, but /rrd_updates and the dumps are
// served by the host whose agent holds the RRDs (xapi: a slave checks a session against the
// master's database, and reads its own xcp-rrdd). So a slave asks the master to check the
// caller's session and its RBAC permission (internal /pool/stats-session, pool secret, as every
// intra-pool call), and reads its own agent's RRDs over the agent's Unix socket.
import { XenApiError } from '../../../shared/errors.js';
import { type StatsProcedures, statsClient } from '../../../shared/host/stats.js';
import { AgentClient } from '../../../shared/noded/client.js';
import type { Services } from '../../api/context.js';
import { checkPermission } from '../../auth/rbac.js';
import { HTTP_ACTIONS, type HttpActionName } from '../../http/data/actions.js';
import type { StreamRouteHandler } from '../../http/server.js';
import { route } from '../../pool/endpoints.js';
import { postInternal, SECRET_HEADER } from '../../pool/peer.js';

/** Whether this host is a pool slave now (its role can change while it runs). */
export function isSlave(svc: Services): boolean {
  return svc.pool !== undefined && !svc.pool.isMaster();
}

/** The master's side: /pool/stats-session checks a session and an HTTP action's permission. */
export function statsPoolRoutes(svc: Services): Record<string, StreamRouteHandler> {
  const pool = svc.pool;
  if (!pool) return {};
  return {
    '/pool/stats-session': route(pool, 'secret', (p, b) => {
      p.assertMaster();
      const name = String(b.action) as HttpActionName;
      if (!Object.hasOwn(HTTP_ACTIONS, name) || !name.startsWith('http/get_'))
        throw new XenApiError('INVALID_VALUE', ['action', name]);
      const session = svc.sessions.validate(String(b.session)); // SESSION_INVALID
      const action = HTTP_ACTIONS[name];
      checkPermission(session, { name: action.permission, roles: action.roles }); // RBAC_PERMISSION_DENIED
      return true;
    }),
    // The task the client named (xen-api makes one per request on the master): settled here.
    '/pool/stats-task': route(pool, 'secret', (p, b) => {
      p.assertMaster();
      const task = String(b.task);
      if (!svc.db.has('task', task)) throw new XenApiError('HANDLE_INVALID', ['task', task]);
      const error = Array.isArray(b.error) ? b.error.map(String) : undefined;
      const failure = error && new XenApiError(error[0] ?? 'INTERNAL_ERROR', error.slice(1));
      const session = validSession(svc, String(b.session));
      if (!session) {
        // A request the slave refused (unknown session): its task fails as a local one would
        // (xapi fails the forwarded task of a refused request whoever owns it).
        if (!failure) throw new XenApiError('SESSION_INVALID', [String(b.session)]);
        if (svc.db.get('task', task)?.status === 'pending' && !svc.tasks.isRunning(task))
          svc.tasks.fail(task, failure);
        return true;
      }
      if (!svc.tasks.ownedBy(task, session.ref, session.userName))
        checkPermission(session, { name: 'task.destroy/any', roles: ['pool-admin', 'pool-operator'] });
      const handle = svc.tasks.adopt(task, { session: session.ref, userName: session.userName });
      if (failure) svc.tasks.fail(handle.ref, failure);
      else svc.tasks.succeed(handle.ref, '');
      return true;
    }),
  };
}

/** The session `ref` when valid, else undefined. */
function validSession(svc: Services, ref: string) {
  try {
    return svc.sessions.validate(ref);
  } catch (e) {
    if (e instanceof XenApiError && e.code === 'SESSION_INVALID') return undefined;
    throw e;
  }
}

/** A slave's check of a master's session: resolves when valid and allowed, else the master's XenApiError. */
export async function checkSessionAtMaster(
  svc: Services,
  session: string,
  action: HttpActionName,
): Promise<void> {
  const pool = svc.pool;
  const role = pool?.role;
  if (!pool || role?.kind !== 'slave') throw new XenApiError('SESSION_INVALID', [session]);
  await postInternal(
    pool.endpoint,
    role.master,
    '/pool/stats-session',
    { session, action },
    {
      [SECRET_HEADER]: pool.secret,
    },
  );
}

/** A slave's settling of the master's task `task` named by a request it answered (error: failed). */
export async function settleTaskAtMaster(
  svc: Services,
  session: string,
  task: string,
  error?: XenApiError,
): Promise<void> {
  const pool = svc.pool;
  const role = pool?.role;
  if (!pool || role?.kind !== 'slave') return;
  const body = { session, task, ...(error ? { error: [error.code, ...error.params] } : {}) };
  await postInternal(pool.endpoint, role.master, '/pool/stats-task', body, { [SECRET_HEADER]: pool.secret });
}

/**
 * This host's agent's statistics procedures: the registered client when connected (a master's),
 * else, on a slave (whose agent only the master is connected to), a client of the agent's Unix
 * socket made on first use. close() drops that client.
 */
export class LocalStats {
  private own?: AgentClient;

  constructor(private readonly agentSocket?: string) {}

  of(svc: Services): StatsProcedures {
    const registered = svc.hosts.peek(svc.hostRef());
    if (registered?.connected || !isSlave(svc) || !this.agentSocket) return svc.hosts.local().stats;
    const own = (this.own ??= new AgentClient(this.agentSocket));
    return statsClient((procedure, args) => own.call(procedure, args));
  }

  close() {
    this.own?.close();
    this.own = undefined;
  }
}
