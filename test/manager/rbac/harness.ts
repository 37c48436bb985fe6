// A real manager with one user per RBAC role, and ways to call a message as that user in-process,
// over XML-RPC, over JSON-RPC and as Async (the error read from the task).
import type { TestContext } from 'node:test';
import type { SessionInfo } from '../../../src/manager/auth/sessions.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import type { MessageSpec } from '../../../src/shared/datamodel/model-types.js';
import type { TypeDesc } from '../../../src/shared/datamodel/types.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { escapeXml } from '../../../src/shared/wire/xml-encode.js';
import { parseMethodResponse } from '../../../src/shared/wire/xml-parse.js';
import { startManager, type TestManager } from '../../helpers/manager.js';
import { ROLE_NAMES, type RoleName, wireFriendly } from './matrix.js';

export const USER_PASSWORD = 'rbac-matrix-pw';
export const userOf = (role: RoleName) => `rbac-${role}`;

/** An XML-RPC <value> for a dummy value of the declared type. */
function xmlValue(t: TypeDesc, v: unknown): string {
  switch (t.kind) {
    case 'int':
    case 'int32':
      return `<value><int>${v}</int></value>`;
    case 'float':
      return `<value><double>${v}</double></value>`;
    case 'bool':
      return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
    case 'datetime':
      return `<value><dateTime.iso8601>${v}</dateTime.iso8601></value>`;
    case 'set':
    case 'option':
      return '<value><array><data></data></array></value>';
    case 'map':
    case 'record':
      return '<value><struct></struct></value>';
    default:
      return `<value>${escapeXml(String(v))}</value>`;
  }
}

export interface RbacManager {
  tm: TestManager;
  /** Session refs per role. */
  sessions: Record<RoleName, string>;
  wireFriendly: (m: MessageSpec) => boolean;
  /** Calls through the dispatcher in-process; the error description, or undefined on success. */
  inProcess(sessionRef: string, wire: string, args: unknown[]): Promise<string[] | undefined>;
  overWire(
    proto: 'xml' | 'json',
    role: RoleName,
    wire: string,
    args: unknown[],
  ): Promise<string[] | undefined>;
  /** Calls Async.<wire>; waits for the task and returns its error_info (undefined on success). */
  asyncOverWire(
    proto: 'xml' | 'json',
    role: RoleName,
    wire: string,
    args: unknown[],
  ): Promise<string[] | undefined>;
}

const PER_CALL_MS = 10_000;
const withTimeout = <T>(p: Promise<T>, what: string) =>
  Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer in ${PER_CALL_MS} ms`)), PER_CALL_MS).unref(),
    ),
  ]);

export async function rbacManager(t: TestContext): Promise<RbacManager> {
  const tm = await startManager(t);
  const svc = tm.manager.svc;
  const sessions = {} as Record<RoleName, string>;
  for (const role of ROLE_NAMES) {
    await svc.users.add(userOf(role), role, USER_PASSWORD);
    sessions[role] = await svc.sessions.loginWithPassword(userOf(role), USER_PASSWORD, 'rbac-matrix');
  }
  const msgs = new Map(Object.values(MODEL.classes).flatMap((c) => c.messages.map((m) => [m.wire, m])));

  async function rpc(proto: 'xml' | 'json', method: string, params: { type?: TypeDesc; value: unknown }[]) {
    if (proto === 'json') {
      const res = await fetch(`${tm.httpUrl}/jsonrpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method, params: params.map((p) => p.value), id: 1 }),
      });
      const body = (await res.json()) as { result?: unknown; error?: { message: string; data: string[] } };
      return body.error
        ? { ok: false as const, error: [body.error.message, ...body.error.data] }
        : { ok: true as const, value: body.result };
    }
    const xml = `<?xml version="1.0"?><methodCall><methodName>${escapeXml(method)}</methodName><params>${params
      .map((p) => `<param>${xmlValue(p.type ?? { kind: 'string' }, p.value)}</param>`)
      .join('')}</params></methodCall>`;
    const res = await fetch(`${tm.httpUrl}/`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: xml,
    });
    const parsed = parseMethodResponse(await res.text());
    if (!parsed.ok) throw new Error(`XML-RPC fault ${JSON.stringify(parsed.fault)}`);
    const v = parsed.value as { Status: string; Value?: unknown; ErrorDescription?: string[] };
    return v.Status === 'Success'
      ? { ok: true as const, value: v.Value }
      : { ok: false as const, error: v.ErrorDescription ?? [] };
  }

  const typedArgs = (wire: string, args: unknown[]) => {
    const m = msgs.get(wire);
    if (!m) throw new Error(`no message ${wire}`);
    return args.map((value, i) => ({ type: m.params[i].type, value }));
  };

  return {
    tm,
    sessions,
    wireFriendly,
    async inProcess(ref, wire, args) {
      try {
        await withTimeout(svc.call(svc.sessions.validate(ref) as SessionInfo, wire, args), wire);
        return undefined;
      } catch (e) {
        if (e instanceof XenApiError) return e.description;
        return ['(exception)', String(e)];
      }
    },
    async overWire(proto, role, wire, args) {
      const r = await withTimeout(
        rpc(proto, wire, [{ value: sessions[role] }, ...typedArgs(wire, args)]),
        wire,
      );
      return r.ok ? undefined : r.error;
    },
    async asyncOverWire(proto, role, wire, args) {
      const r = await withTimeout(
        rpc(proto, `Async.${wire}`, [{ value: sessions[role] }, ...typedArgs(wire, args)]),
        wire,
      );
      if (!r.ok) return ['(Async call itself failed)', ...r.error];
      const task = String(r.value);
      const end = Date.now() + PER_CALL_MS;
      for (;;) {
        const s = await rpc(proto, 'task.get_status', [{ value: sessions[role] }, { value: task }]);
        if (!s.ok) return ['(task.get_status failed)', ...s.error];
        if (s.value !== 'pending') break;
        if (Date.now() > end) return ['(task still pending)'];
        await new Promise((res) => setTimeout(res, 5));
      }
      const info = await rpc(proto, 'task.get_error_info', [{ value: sessions[role] }, { value: task }]);
      if (!info.ok) return ['(task.get_error_info failed)', ...info.error];
      const list = info.value as string[];
      return list.length ? list : undefined;
    },
  };
}
