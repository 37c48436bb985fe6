// The statistics handlers' request path: xapi's `Xapi_http.with_context ~dummy:true`. The caller
// is authenticated and authorised exactly as for the data plane (the same functions: local
// socket, session_id cookie/query, pool_secret, Basic auth; RBAC `http/get_rrd_updates` …), but
// no task is recorded for the request. A task the request names (task_id, as Xen Orchestra's
// xen-api client sends) is taken and settled, as xapi's forwarded tasks are: success when the
// answer was sent, failure with the error, left pending for the other host on a 302.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { XenApiError, isXenApiError } from '../../../shared/errors.js';
import { logger } from '../../../shared/log.js';
import type { StatsProcedures } from '../../../shared/host/stats.js';
import type { ConnectionInfo, Services } from '../../api/context.js';
import { checkPermission, deniedError } from '../../auth/rbac.js';
import type { SessionInfo } from '../../auth/sessions.js';
import { HTTP_ACTIONS, type HttpActionName } from '../../http/data/actions.js';
import { authenticate, type Caller } from '../../http/data/auth.js';
import { HttpStatusError, Unauthorised } from '../../http/data/errors.js';
import { adoptNamedTask, failNamedTask } from '../../http/data/handler.js';
import { DataQuery } from '../../http/data/query.js';
import {
  errorText,
  sendForbidden,
  sendInternalError,
  sendNotFound,
  sendUnauthorised,
} from '../../http/data/responses.js';
import type { HttpFrontend, StreamRouteHandler } from '../../http/server.js';
import type { TaskHandle } from '../../tasks/task-manager.js';
import { checkSessionAtMaster, isSlave, type LocalStats, settleTaskAtMaster } from './pool.js';
import { sendBareStatus } from './responses.js';

const log = logger('http-stats');

export interface StatsRequest {
  svc: Services;
  req: IncomingMessage;
  res: ServerResponse;
  query: DataQuery;
  session: SessionInfo;
  /** This host's agent's statistics procedures (pool.ts: a slave's own client). */
  local(): StatsProcedures;
}

/** How a handler ended: answered here, or sent the client to another host (302). */
export type StatsOutcome = 'answered' | 'redirected';

export interface StatsHandlerSpec {
  path: string;
  action: HttpActionName;
  handle(r: StatsRequest): Promise<StatsOutcome>;
}

/** An answer a handler chooses by throwing: 400/404/503 (headers only) or 500 with a text. */
export class StatsStatus extends Error {
  constructor(
    readonly status: 400 | 404 | 500 | 503,
    message: string,
  ) {
    super(message);
  }
}

function sendFailure(res: ServerResponse, e: unknown) {
  if (e instanceof StatsStatus) {
    if (e.status === 500) return sendInternalError(res, e.message);
    return sendBareStatus(res, e.status);
  }
  if (e instanceof HttpStatusError) return sendInternalError(res, errorText(e.error.code, e.error.params));
  if (isXenApiError(e)) {
    if (e.code === 'RBAC_PERMISSION_DENIED') return sendForbidden(res);
    return sendInternalError(res, errorText(e.code, e.params));
  }
  return sendInternalError(res, e instanceof Error ? e.message : String(e));
}

/** The XenAPI error a named task fails with. */
function taskError(e: unknown): XenApiError {
  if (isXenApiError(e)) return e;
  return new XenApiError('INTERNAL_ERROR', [e instanceof Error ? e.message : String(e)]);
}

/**
 * The caller of a request on a slave whose session this slave does not hold: the master checks it
 * (sessions are the master's) and the request runs under a temporary local session. undefined when
 * this is not such a request.
 */
async function checkedByMaster(svc: Services, query: DataQuery, spec: StatsHandlerSpec) {
  const session = query.credential('session_id');
  if (session === undefined || !isSlave(svc)) return undefined;
  try {
    await checkSessionAtMaster(svc, session, spec.action);
  } catch (e) {
    if (isXenApiError(e) && e.code === 'RBAC_PERMISSION_DENIED') throw e;
    return undefined;
  }
  const local = svc.sessions.localLogin(`http ${spec.path} (session checked by the master)`);
  return { session: svc.sessions.validate(local), temporary: true, how: 'session' } as Caller;
}

/** Settles, in the background, the master's task a request checked by the master named. */
function settleAtMaster(svc: Services, query: DataQuery, error?: XenApiError) {
  const session = query.credential('session_id');
  const task = query.credential('task_id');
  // A refused request may carry no session (Basic auth): the master fails the task all the same.
  if (task === undefined || (session === undefined && !error)) return;
  settleTaskAtMaster(svc, session ?? '', task, error).catch((e) =>
    log.info("could not settle the master's task", { task, error: String(e) }),
  );
}

/** Fails the task a refused request names: the master's on a slave (tasks are the master's). */
function failTask(svc: Services, query: DataQuery, error: XenApiError) {
  if (isSlave(svc)) settleAtMaster(svc, query, error);
  else failNamedTask(svc, query, error);
}

export function statsRoute(svc: Services, spec: StatsHandlerSpec, stats: LocalStats): StreamRouteHandler {
  const action = HTTP_ACTIONS[spec.action];
  return async (req, res, conn: ConnectionInfo) => {
    req.resume();
    const query = new DataQuery(req.url, req.headers.cookie);
    if (req.method !== 'GET') return sendNotFound(res);
    let caller: Caller;
    let byMaster = false;
    try {
      try {
        caller = await authenticate(svc, req, conn, query);
      } catch (e) {
        const checked = e instanceof Unauthorised ? await checkedByMaster(svc, query, spec) : undefined;
        if (!checked) throw e;
        caller = checked;
        byMaster = true;
      }
    } catch (e) {
      if (e instanceof Unauthorised) {
        failTask(svc, query, new XenApiError('SESSION_AUTHENTICATION_FAILED', []));
        return sendUnauthorised(res, spec.action.slice('http/'.length));
      }
      if (isXenApiError(e) && e.code === 'RBAC_PERMISSION_DENIED') failTask(svc, query, e);
      return sendFailure(res, e);
    }
    let task: TaskHandle | undefined;
    try {
      try {
        checkPermission(caller.session, { name: action.permission, roles: action.roles });
      } catch (e) {
        const denied = isXenApiError(e) ? e : deniedError({ name: action.permission, roles: action.roles });
        failTask(svc, query, denied);
        throw denied;
      }
      // A task the client named lives on the master when the master checked the session.
      task = byMaster ? undefined : adoptNamedTask(svc, query, caller.session);
      const outcome = await spec.handle({
        svc,
        req,
        res,
        query,
        session: caller.session,
        local: () => stats.of(svc),
      });
      if (task && outcome === 'redirected') svc.tasks.release(task.ref);
      else if (task) svc.tasks.succeed(task.ref, '');
      else if (byMaster && outcome === 'answered') settleAtMaster(svc, query);
    } catch (e) {
      if (!res.headersSent) sendFailure(res, e);
      else res.destroy();
      if (task) svc.tasks.fail(task.ref, taskError(e));
      else if (byMaster) settleAtMaster(svc, query, taskError(e));
      // A query no archive answers is the client's business (xcp-rrdd does not log it either).
      if (!(e instanceof StatsStatus) && !isXenApiError(e))
        log.info('statistics request failed', { path: spec.path, error: String(e) });
    } finally {
      if (caller.temporary) svc.sessions.logout(caller.session.ref);
    }
  };
}

/** Mounts a statistics handler on `path` and `path/`. */
export function mountStatsHandler(
  frontend: HttpFrontend,
  svc: Services,
  spec: StatsHandlerSpec,
  paths: string[],
  stats: LocalStats,
) {
  const route = statsRoute(svc, spec, stats);
  for (const p of paths) {
    frontend.mount(p, route);
    frontend.mount(`${p}/`, route);
  }
}
