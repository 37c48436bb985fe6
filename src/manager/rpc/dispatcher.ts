// The XenAPI dispatcher: from a method name and undecoded parameters to an outcome, in xapi's
// order: method lookup → UTF-8 → parameter count → decoding by declared type → session →
// lifecycle → RBAC → operation (under a task for Async.* and async-capable messages).
// Transport-independent: the XML-RPC and JSON-RPC front ends supply a ParamSource and encode
// the Outcome with the message's result type.
import { asApiCall } from '../pool/write-fence.js';
import type { MessageSpec, Model } from '../../shared/datamodel/model-types.js';
import type { TypeDesc } from '../../shared/datamodel/types.js';
import { XenApiError, internalError, isXenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import { checkPermission, requiredPermission } from '../auth/rbac.js';
import type { SessionInfo } from '../auth/sessions.js';
import type { CallContext, ConnectionInfo, Handler, Services, SessionlessHandler } from '../api/context.js';
import { implicitHandler } from '../api/implicit.js';

const log = logger('dispatch');

/** Undecoded parameters as the transport parsed them. */
export interface ParamSource {
  readonly length: number;
  /** Decodes parameter i to an internal value of `type` (INTERNAL_ERROR on a type mismatch). */
  decode(i: number, type: TypeDesc): unknown;
  /** Set when a parameter was not valid UTF-8. */
  invalidUtf8Param?: string;
}

export type Outcome =
  | { ok: true; value: unknown; type: TypeDesc; msg?: MessageSpec }
  | { ok: false; error: XenApiError };

const SESSION_TYPE: TypeDesc = { kind: 'ref', cls: 'session' };
const TASK_REF: TypeDesc = { kind: 'ref', cls: 'task' };
const STRING_SET: TypeDesc = { kind: 'set', of: { kind: 'string' } };

export interface ResolvedMethod {
  msg: MessageSpec;
  async: boolean;
}

export class Dispatcher {
  private readonly messages = new Map<string, MessageSpec>();
  private readonly handlers = new Map<string, Handler>();
  private readonly sessionless = new Map<string, SessionlessHandler>();
  private svc!: Services;

  constructor(
    readonly model: Model,
    explicit: Partial<Record<string, Handler>>,
    sessionless: Partial<Record<string, SessionlessHandler>>,
  ) {
    for (const cls of Object.values(model.classes)) {
      for (const m of cls.messages) {
        this.messages.set(m.wire, m);
        const generic = m.generic ? { ...m, implicit: m.generic } : m;
        const h = explicit[m.wire] ?? (cls.inDb ? implicitHandler(cls, generic) : undefined);
        if (h) this.handlers.set(m.wire, h);
        const s = sessionless[m.wire];
        if (s) this.sessionless.set(m.wire, s);
      }
    }
    for (const wire of [...Object.keys(explicit), ...Object.keys(sessionless)]) {
      if (!this.messages.has(wire)) throw new Error(`handler for unknown message ${wire}`);
    }
  }

  attach(svc: Services) {
    this.svc = svc;
  }

  /** Every wire name a client can call (sync names), for system.listMethods. */
  listMethods(): string[] {
    const out: string[] = [];
    for (const m of this.messages.values()) if (m.lifecycle !== 'removed') out.push(m.wire);
    return out.sort();
  }

  /** Wire names with an implementation (the rest answer NOT_IMPLEMENTED). */
  implemented(): string[] {
    return [...this.messages.keys()].filter((w) => this.handlers.has(w) || this.sessionless.has(w)).sort();
  }

  resolve(method: string): ResolvedMethod | undefined {
    if (method.startsWith('Async.')) {
      const msg = this.messages.get(method.slice(6));
      return msg && { msg, async: true };
    }
    const msg = this.messages.get(method);
    if (msg) return { msg, async: false };
    // xapi also dispatches Class_message (sync only).
    const us = method.indexOf('_');
    if (us > 0) {
      for (let i = us; i >= 0 && i < method.length; i = method.indexOf('_', i + 1)) {
        const alt = this.messages.get(`${method.slice(0, i)}.${method.slice(i + 1)}`);
        if (alt) return { msg: alt, async: false };
      }
    }
    return undefined;
  }

  async dispatch(method: string, params: ParamSource, conn: ConnectionInfo): Promise<Outcome> {
    try {
      if (method === 'system.listMethods') return { ok: true, value: this.listMethods(), type: STRING_SET };
      const resolved = this.resolve(method);
      if (!resolved) return await this.unknownMethod(method, params);
      const { msg, async } = resolved;
      if (async && !msg.async) {
        throw new XenApiError('Fault', [`No async mode for this operation (rpc: ${msg.wire})`]);
      }
      if (params.invalidUtf8Param !== undefined) {
        throw new XenApiError('INVALID_VALUE', [
          'Invalid UTF-8 string in parameter',
          params.invalidUtf8Param,
        ]);
      }
      const offset = msg.session ? 1 : 0;
      const required = msg.params.filter((p) => p.required).length;
      const received = params.length - offset;
      if (received < required || received > msg.params.length) {
        throw new XenApiError('MESSAGE_PARAMETER_COUNT_MISMATCH', [
          msg.wire,
          String(required),
          String(received),
        ]);
      }
      const args = msg.params.map((p, i) =>
        i < received ? params.decode(i + offset, p.type) : structuredClone(p.default),
      );
      // A pool slave answers HOST_IS_SLAVE to all but its emergency calls (pool/slave-gate.ts).
      await this.svc.pool?.assertServed(msg.wire, msg.session);
      if (!msg.session) {
        const h = this.sessionless.get(msg.wire);
        if (!h) throw new XenApiError('NOT_IMPLEMENTED', [msg.wire]);
        const value = await h({ svc: this.svc, msg, conn }, ...(args as never[]));
        return { ok: true, value, type: msg.result, msg };
      }
      const session = this.svc.sessions.validate(params.decode(0, SESSION_TYPE));
      if (async) {
        const task = this.startTask(session, msg, args, conn);
        return { ok: true, value: task, type: TASK_REF };
      }
      const value = await this.invoke(session, msg, args, conn, msg.async);
      return { ok: true, value, type: msg.result, msg };
    } catch (e) {
      return { ok: false, error: this.asXenApiError(e, method) };
    }
  }

  /** Calls a message in-process with already-decoded arguments (CLI, internal callers). */
  async callInternal(
    session: SessionInfo,
    wire: string,
    args: unknown[],
    conn: ConnectionInfo = { local: true },
  ): Promise<unknown> {
    const resolved = this.resolve(wire);
    if (!resolved) throw new XenApiError('MESSAGE_METHOD_UNKNOWN', [wire]);
    const { msg, async } = resolved;
    if (async && !msg.async)
      throw new XenApiError('Fault', [`No async mode for this operation (rpc: ${msg.wire})`]);
    const required = msg.params.filter((p) => p.required).length;
    if (args.length < required || args.length > msg.params.length) {
      throw new XenApiError('MESSAGE_PARAMETER_COUNT_MISMATCH', [
        msg.wire,
        String(required),
        String(args.length),
      ]);
    }
    const full = msg.params.map((p, i) => (i < args.length ? args[i] : structuredClone(p.default)));
    this.svc.sessions.validate(session.ref);
    if (async) return this.startTask(session, msg, full, conn);
    return this.invoke(session, msg, full, conn, false);
  }

  private startTask(session: SessionInfo, msg: MessageSpec, args: unknown[], conn: ConnectionInfo): string {
    const ref = this.svc.tasks.create(`Async.${msg.wire}`, {
      session: session.ref,
      userName: session.userName,
      otherConfig: httpOtherConfig(conn),
      subtaskOf: headerValue(conn, 'subtask-of'),
    });
    const handle = this.svc.tasks.handle(ref);
    // RBAC denial and every other failure land in the task.
    void this.svc.tasks.run(ref, msg.wire, () => this.execute(session, msg, args, conn, handle));
    return ref;
  }

  private async invoke(
    session: SessionInfo,
    msg: MessageSpec,
    args: unknown[],
    conn: ConnectionInfo,
    withTask: boolean,
  ) {
    if (!withTask) return this.execute(session, msg, args, conn, undefined);
    // A sync call of an async-capable message runs under a task that exists for its duration.
    const ref = this.svc.tasks.create(msg.wire, {
      session: session.ref,
      userName: session.userName,
      transient: true,
    });
    const handle = this.svc.tasks.handle(ref);
    try {
      return await this.execute(session, msg, args, conn, handle);
    } finally {
      this.svc.tasks.discard(ref);
    }
  }

  private async execute(
    session: SessionInfo,
    msg: MessageSpec,
    args: unknown[],
    conn: ConnectionInfo,
    task: CallContext['task'],
  ): Promise<unknown> {
    if (msg.lifecycle === 'removed') throw new XenApiError('MESSAGE_REMOVED', []);
    checkPermission(session, requiredPermission(this.model, msg, args));
    const h = this.handlers.get(msg.wire);
    if (!h) throw new XenApiError('NOT_IMPLEMENTED', [msg.wire]);
    const ctx: CallContext = { svc: this.svc, session, msg, conn, task, signal: task?.signal ?? conn.signal };
    // `args` were decoded by msg's declared parameter types: what the handler's type promises it.
    // Inside an API call's context: a pool slave's write fence refuses its writes (pool/write-fence.ts).
    // A host alone in its pool has no fence to raise: its calls skip the context (Node 20's
    // AsyncLocalStorage hooks every promise of the process once used).
    if (this.svc.pool?.fenceMayRise() === false) return await h(ctx, ...(args as never[]));
    return await asApiCall(() => h(ctx, ...(args as never[])));
  }

  /** xapi: with no params, MESSAGE_METHOD_UNKNOWN; otherwise a possible extension call. */
  private async unknownMethod(method: string, params: ParamSource): Promise<Outcome> {
    const name = method.startsWith('Async.') ? method.slice(6) : method;
    if (params.length > 0) {
      let ref: unknown;
      try {
        ref = params.decode(0, SESSION_TYPE);
      } catch {
        ref = undefined;
      }
      const session = this.svc.sessions.validate(ref);
      checkPermission(session, { name: 'host.call_extension', roles: ['pool-admin'] });
    }
    throw new XenApiError('MESSAGE_METHOD_UNKNOWN', [name]);
  }

  private asXenApiError(e: unknown, method: string): XenApiError {
    if (isXenApiError(e)) return e;
    log.error('internal error', { method, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    return internalError(e instanceof Error ? e.message : String(e));
  }
}

function headerValue(conn: ConnectionInfo, name: string): string | undefined {
  const v = conn.headers?.[name];
  return Array.isArray(v) ? v[0] : v;
}

/** X-Http-Other-Config-<k>: v headers become task other_config http:<k>. */
function httpOtherConfig(conn: ConnectionInfo): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(conn.headers ?? {})) {
    if (k.startsWith('x-http-other-config-') && v !== undefined)
      out[`http:${k.slice(20)}`] = String(Array.isArray(v) ? v[0] : v);
  }
  return out;
}
