// The data-plane HTTP handler framework (xapi's Xapi_http.assert_credentials_ok + with_context):
// a handler declares its path, methods and RBAC action and gets an authenticated, authorised
// request running under a task. See index.ts for the contract handlers rely on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { XenApiError, isXenApiError } from '../../../shared/errors.js';
import { written } from '../../../shared/disk-formats/recycle.js';
import { logger } from '../../../shared/log.js';
import { escapeXml } from '../../../shared/wire/xml-encode.js';
import type { ConnectionInfo, Services } from '../../api/context.js';
import { checkPermission, deniedError } from '../../auth/rbac.js';
import type { SessionInfo } from '../../auth/sessions.js';
import type { TaskHandle } from '../../tasks/task-manager.js';
import { withVmOperation } from '../../vm/vm-state.js';
import { withVdiOperation } from '../../storage/records.js';
import type { HttpFrontend, StreamRouteHandler } from '../server.js';
import { HTTP_ACTIONS, type HttpActionName } from './actions.js';
import { authenticate, type Caller } from './auth.js';
import { HttpStatusError, Unauthorised } from './errors.js';
import { redirectLocation } from './placement.js';
import { DataQuery } from './query.js';
import {
  errorText,
  sendBadRequest,
  sendForbidden,
  sendInternalError,
  sendNotFound,
  sendRedirect,
  sendStreamHead,
  sendUnauthorised,
} from './responses.js';

const log = logger('http-data');

/** What a handler's task records on success: nothing, one ref, or a list of refs (VM import). */
export type DataResult = undefined | string | string[];

export interface DataContext {
  svc: Services;
  req: IncomingMessage;
  res: ServerResponse;
  conn: ConnectionInfo;
  query: DataQuery;
  session: SessionInfo;
  /** The session's subject ref (NULL for local and root sessions). */
  subject: string;
  /** The task: the caller's (task_id) or one made for this request. */
  task: TaskHandle;
  /**
   * Aborted when the task is cancelled (task.cancel) or, for GET, when the client disconnects.
   * PUT bodies end at a client close instead (see body()), as xapi's importers read to EOF.
   */
  signal: AbortSignal;
  /** Aborted when the client's connection closes before the response was finished. */
  clientGone: AbortSignal;
  /**
   * A PUT naming no task with Content-Length 0 (or XO's 1 PiB): Xen Orchestra's probe before a streamed
   * upload. It must get the same 200 or 302 as the real PUT and have no side effect: decide
   * placement (redirect), then return.
   */
  isProbe: boolean;
  /** Sets the task's progress (0..1), at most a few writes a second. */
  progress(fraction: number): void;
  /** Sends `200 OK` with `task-id`, `Connection: close`, no-cache and `headers`. */
  start(headers?: Record<string, string | number>): void;
  /** Writes to the response, waiting while the client is slow (backpressure). */
  write(chunk: Uint8Array): Promise<void>;
  /** Streams `source` as the body (start() first); progress = bytes / total when total is given. */
  send(source: AsyncIterable<Uint8Array> | Readable, total?: number): Promise<void>;
  /** The request body; a client that closes the connection ends it (it is not an error). */
  body(): AsyncIterable<Buffer>;
  /** Answers 302 to `host`'s address, same path and query; the task is left for that host. */
  redirect(host: string): undefined;
  /** Runs the rest of the request as operation `op` on a VM / VDI (current_operations), released at the end. */
  lockVm(vm: string, op: string): Promise<void>;
  lockVdi(vdi: string, op: string): Promise<void>;
  /** Runs `fn` when the request ends, before the task is settled (latest registered first). */
  onEnd(fn: () => unknown): void;
}

export interface DataHandlerSpec {
  /** The URI (also served with a trailing slash, which Xen Orchestra sends). */
  path: string;
  methods: readonly string[];
  /** xapi's RBAC action; the permission checked is this name. */
  action: HttpActionName;
  /** The task's name_label when the request brings none (xapi: `VM.export`). */
  label: string;
  handle(ctx: DataContext): Promise<DataResult>;
}

/** The XML-RPC <value> a task's result holds (xapi: `<value>OpaqueRef:…</value>`, an array for lists). */
export function resultXml(r: DataResult): string {
  if (r === undefined) return '';
  if (typeof r === 'string') return `<value>${escapeXml(r)}</value>`;
  return `<value><array><data>${r.map((x) => `<value>${escapeXml(x)}</value>`).join('')}</data></array></value>`;
}

/** Mounts a handler on the front end (path and path + '/'). */
export function mountDataHandler(frontend: HttpFrontend, svc: Services, spec: DataHandlerSpec): void {
  const route = dataRoute(svc, spec);
  frontend.mount(spec.path, route);
  frontend.mount(`${spec.path.replace(/\/$/, '')}/`, route);
}

/** Fails the pending task a refused request named (xapi fails it with the refusal). */
export function failNamedTask(svc: Services, q: DataQuery, err: XenApiError) {
  const ref = q.credential('task_id');
  if (!ref) return;
  const row = svc.db.get('task', ref);
  if (row?.status === 'pending' && !svc.tasks.isRunning(ref)) svc.tasks.fail(ref, err);
}

function sendError(res: ServerResponse, e: unknown) {
  if (e instanceof HttpStatusError) {
    if (e.status === 400) return sendBadRequest(res);
    if (e.status === 403) return sendForbidden(res);
    if (e.status === 404) return sendNotFound(res);
    return sendInternalError(res, errorText(e.error.code, e.error.params));
  }
  if (isXenApiError(e)) {
    if (e.code === 'RBAC_PERMISSION_DENIED') return sendForbidden(res);
    return sendInternalError(res, errorText(e.code, e.params));
  }
  return sendInternalError(res, e instanceof Error ? e.message : String(e));
}

/** The error a task records for `e`. */
function taskError(e: unknown): unknown {
  return e instanceof HttpStatusError ? e.error : e;
}

/**
 * Takes the task the request names by task_id (it must exist and be the caller's, or the caller
 * may destroy any task); undefined when none is named.
 */
export function adoptNamedTask(svc: Services, q: DataQuery, s: SessionInfo): TaskHandle | undefined {
  const named = q.credential('task_id');
  if (named === undefined) return undefined;
  if (!svc.db.has('task', named)) throw new XenApiError('HANDLE_INVALID', ['task', named]);
  if (!svc.tasks.ownedBy(named, s.ref, s.userName))
    checkPermission(s, { name: 'task.destroy/any', roles: ['pool-admin', 'pool-operator'] });
  return svc.tasks.adopt(named, { session: s.ref, userName: s.userName });
}

/** Takes the task the request names (must be pending, free, and the caller's) or makes one. */
function takeTask(
  svc: Services,
  spec: DataHandlerSpec,
  q: DataQuery,
  s: SessionInfo,
): { task: TaskHandle; own: boolean } {
  const named = adoptNamedTask(svc, q, s);
  if (named) return { task: named, own: false };
  const ref = svc.tasks.create(spec.label, {
    session: s.ref,
    userName: s.userName,
    subtaskOf: q.credential('subtask_of'),
  });
  return { task: svc.tasks.handle(ref), own: true };
}

export function dataRoute(svc: Services, spec: DataHandlerSpec): StreamRouteHandler {
  const action = HTTP_ACTIONS[spec.action];
  return async (req, res, conn) => {
    const q = new DataQuery(req.url, req.headers.cookie);
    if (!spec.methods.includes(req.method ?? '')) {
      req.resume();
      return sendNotFound(res);
    }
    let caller: Caller;
    try {
      caller = await authenticate(svc, req, conn, q);
    } catch (e) {
      req.resume();
      if (e instanceof Unauthorised) {
        failNamedTask(svc, q, new XenApiError('SESSION_AUTHENTICATION_FAILED', []));
        // xapi's realm is the action's name (add_handler checks credentials first, realm = name).
        return sendUnauthorised(res, spec.action.slice('http/'.length));
      }
      return sendError(res, e);
    }
    try {
      try {
        checkPermission(caller.session, { name: action.permission, roles: action.roles });
      } catch (e) {
        req.resume();
        failNamedTask(
          svc,
          q,
          isXenApiError(e) ? e : deniedError({ name: action.permission, roles: action.roles }),
        );
        return sendForbidden(res);
      }
      let taken: { task: TaskHandle; own: boolean };
      try {
        taken = takeTask(svc, spec, q, caller.session);
      } catch (e) {
        req.resume();
        return sendError(res, e);
      }
      await new DataRun(svc, spec, req, res, conn, q, caller.session, taken.task, taken.own).run();
    } finally {
      if (caller.temporary) svc.sessions.logout(caller.session.ref);
    }
  };
}

const PROGRESS_INTERVAL_MS = 250;
/**
 * Content-Length of Xen Orchestra's probe PUT (sent without task_id before a streamed upload):
 * 0, or the 1 PiB it declares for a stream of unknown length (xen-api putResource).
 */
const PROBE_LENGTHS = new Set(['0', '1125899906842624']);

/** One request under its task: the DataContext a handler sees, and how it ends. */
class DataRun implements DataContext {
  readonly signal: AbortSignal;
  readonly clientGone: AbortSignal;
  readonly subject: string;
  readonly isProbe: boolean;
  private readonly gone = new AbortController();
  private readonly cleanups: (() => unknown)[] = [];
  private redirected = false;
  private lastProgressAt = 0;
  private lastProgress = 0;
  private pendingProgress: number | undefined;
  private progressTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly svc: Services,
    private readonly spec: DataHandlerSpec,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly conn: ConnectionInfo,
    readonly query: DataQuery,
    readonly session: SessionInfo,
    readonly task: TaskHandle,
    private readonly ownTask: boolean,
  ) {
    this.clientGone = this.gone.signal;
    res.once('close', () => {
      if (!res.writableFinished) this.gone.abort(this.abortReason());
    });
    this.signal = req.method === 'GET' ? AbortSignal.any([task.signal, this.gone.signal]) : task.signal;
    this.isProbe =
      req.method === 'PUT' &&
      PROBE_LENGTHS.has(String(req.headers['content-length'])) &&
      query.credential('task_id') === undefined;
    this.subject = String(svc.db.get('session', session.ref)?.subject ?? 'OpaqueRef:NULL');
  }

  progress(fraction: number) {
    const now = Date.now();
    const f = Math.max(0, Math.min(1, fraction));
    const wait = PROGRESS_INTERVAL_MS - (now - this.lastProgressAt);
    if (f !== 1 && wait > 0) {
      // Too soon for another write: the latest figure goes out when the interval ends, so a
      // transfer that stalls (a slow reader) still shows how far it got.
      this.pendingProgress = f;
      this.progressTimer ??= setTimeout(() => {
        this.progressTimer = undefined;
        const p = this.pendingProgress;
        if (p !== undefined) this.progress(p);
      }, wait);
      this.progressTimer.unref?.();
      return;
    }
    this.pendingProgress = undefined;
    if (f === this.lastProgress) return;
    this.lastProgressAt = now;
    this.lastProgress = f;
    this.task.setProgress(f);
  }

  start(headers: Record<string, string | number> = {}) {
    sendStreamHead(this.res, { 'task-id': this.task.ref, ...headers });
  }

  private abortReason(): Error {
    if (this.task.signal.aborted) return new XenApiError('TASK_CANCELLED', [this.task.ref]);
    return new XenApiError('INTERNAL_ERROR', ['the client closed the connection']);
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.signal.aborted || this.res.destroyed) return Promise.reject(this.abortReason());
    // A pooled read buffer is recycled once its bytes are out (not on error: the socket may still hold it).
    if (this.res.write(chunk, (err) => err || written(chunk))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.res.off('drain', onDrain);
        this.res.off('close', onClose);
        this.signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.abortReason());
      const onAbort = () => done(this.abortReason());
      this.res.on('drain', onDrain);
      this.res.on('close', onClose);
      this.signal.addEventListener('abort', onAbort);
    });
  }

  async send(source: AsyncIterable<Uint8Array> | Readable, total?: number) {
    let sent = 0;
    try {
      for await (const chunk of source) {
        await this.write(chunk);
        sent += chunk.length;
        if (total) this.progress(sent / total);
      }
    } finally {
      (source as Partial<Readable>).destroy?.();
    }
  }

  async *body(): AsyncIterable<Buffer> {
    const req = this.req;
    // task.cancel while the client sends nothing: stop waiting for it.
    const stop = () => {
      if (!req.complete) req.destroy();
    };
    this.task.signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const chunk of req) {
        this.task.checkCancelled();
        yield chunk as Buffer;
      }
      this.task.checkCancelled();
    } catch (e) {
      this.task.checkCancelled();
      if (isXenApiError(e)) throw e;
      // The client closed the connection: the data ends here (xapi reads to EOF).
      if (req.destroyed || (e as NodeJS.ErrnoException).code === 'ECONNRESET') return;
      throw e;
    } finally {
      this.task.signal.removeEventListener('abort', stop);
    }
  }

  redirect(host: string): undefined {
    const address = String(this.svc.db.get('host', host)?.address ?? '');
    if (!address) throw new XenApiError('HANDLE_INVALID', ['host', host]);
    const endpoint = this.svc.pool?.endpoint ?? { scheme: 'https' as const, port: 443 };
    this.redirected = true;
    log.info('redirecting to another pool member', { path: this.spec.path, host });
    this.req.resume();
    sendRedirect(this.res, redirectLocation(address, endpoint, this.req.url ?? this.spec.path));
  }

  /** Holds `withOperation` open until the request ends; throws now if the operation is refused. */
  private async hold(withOperation: (fn: () => Promise<void>) => Promise<void>) {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const p = withOperation(() => held);
    // The operation is checked and recorded synchronously: a refusal has rejected `p` already.
    await Promise.race([p, Promise.resolve()]);
    this.onEnd(() => {
      release();
      return p.catch(() => undefined);
    });
  }

  lockVm(vm: string, op: string) {
    return this.hold((fn) => withVmOperation(this.svc.db, vm, op, this.task.ref, fn));
  }

  lockVdi(vdi: string, op: string) {
    return this.hold((fn) => withVdiOperation(this.svc, vdi, op, this.task.ref, fn));
  }

  onEnd(fn: () => unknown) {
    this.cleanups.push(fn);
  }

  private async cleanup() {
    // A progress figure still waiting for its interval is moot once the request ends.
    clearTimeout(this.progressTimer);
    this.pendingProgress = undefined;
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        log.warn('cleanup after a data request failed', { error: String(e) });
      }
    }
  }

  private endTask() {
    const { tasks } = this.svc;
    if (this.redirected) {
      // Unsettled: the other member does the work (a caller's task is free for it to take).
      tasks.release(this.task.ref);
      if (this.ownTask) tasks.destroy(this.task.ref);
      return;
    }
    // xapi destroys a task it made for the request (with_context); a caller's task stays.
    if (this.ownTask && this.svc.db.has('task', this.task.ref)) tasks.destroy(this.task.ref);
  }

  async run() {
    const { tasks } = this.svc;
    let result: DataResult;
    try {
      result = await this.spec.handle(this);
    } catch (e) {
      const err = this.task.signal.aborted
        ? new XenApiError('TASK_CANCELLED', [this.task.ref])
        : taskError(e);
      if (!this.res.headersSent) sendError(this.res, e);
      else this.res.destroy();
      if (!this.req.complete) this.req.resume();
      await this.cleanup();
      if (!this.redirected) tasks.fail(this.task.ref, err);
      if (!isXenApiError(err) && !this.clientGone.aborted)
        log.warn('data request failed', { path: this.spec.path, error: String(err) });
      this.endTask();
      return;
    }
    if (!this.redirected) {
      if (!this.res.headersSent) this.start({ 'Content-Length': 0 });
      await ended(this.res);
    }
    await this.cleanup();
    if (!this.redirected) tasks.succeed(this.task.ref, resultXml(result));
    this.endTask();
  }
}

/** Resolves when the response is flushed or its connection closed. */
function ended(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.writableFinished || res.destroyed) return resolve();
    res.once('finish', () => resolve());
    res.once('close', () => resolve());
    if (!res.writableEnded) res.end();
  });
}
