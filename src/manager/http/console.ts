// /console: xapi's console proxy. `CONNECT /console?ref=…&session_id=…` (xe, XenCenter) answers
// 200 and then relays bytes to the VM's VNC server, which the agent binds to a Unix socket (never
// a network port); `GET /console` with a WebSocket upgrade does the same for browser VNC clients
// (noVNC), one binary message per chunk.
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError, isXenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { ConnectionInfo, Services } from '../api/context.js';
import { checkPermission } from '../auth/rbac.js';
import { isNull } from '../storage/records.js';

const log = logger('console');

export interface ConsoleTarget {
  vm: string;
  socketPath: string;
}

/** What a console request names: its session and the console (or VM) by ref or uuid. */
export interface ConsoleParams {
  session?: string;
  ref?: string;
  uuid?: string;
}

/**
 * Reads the query (`ref`, `uuid`, `session_id`) and the `session_id` cookie of a console request.
 * Never throws: text that does not decode names nothing (or itself), so the request fails as an
 * unknown session or console would (403/404), not with a 500.
 */
export function consoleParams(target: string | undefined, cookie: string | undefined): ConsoleParams {
  const t = target ?? '/';
  const q = t.indexOf('?');
  const hash = t.indexOf('#', q);
  // URLSearchParams (unlike new URL) accepts any text, malformed escapes included.
  const query = new URLSearchParams(q < 0 ? '' : t.slice(q + 1, hash < 0 ? undefined : hash));
  const param = (name: string) => query.get(name) ?? undefined;
  const m = /(?:^|;\s*)session_id=([^;]+)/.exec(cookie ?? '');
  return {
    session: param('session_id') || (m ? decodeCookie(m[1]) : undefined),
    ref: param('ref'),
    uuid: param('uuid'),
  };
}

/** A percent-encoded cookie value; one with a malformed escape is taken as it is. */
function decodeCookie(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** Authenticates the request and finds the running VM's VNC socket; XenApiError otherwise. */
export async function resolveConsole(svc: Services, req: IncomingMessage): Promise<ConsoleTarget> {
  const { session: sessionRef, ref, uuid } = consoleParams(req.url, req.headers.cookie);
  const session = svc.sessions.validate(sessionRef);
  checkPermission(session, {
    name: 'http/connect_console',
    roles: ['pool-admin', 'pool-operator', 'vm-power-admin', 'vm-admin', 'vm-operator'],
  });
  const { db } = svc;
  let vm: string | undefined;
  if (ref)
    vm = db.has('console', ref) ? String(db.get('console', ref)!.VM) : db.has('VM', ref) ? ref : undefined;
  else if (uuid) {
    const c = db.refByUuid('console', uuid);
    vm = c ? String(db.get('console', c)!.VM) : db.refByUuid('VM', uuid);
  }
  if (!vm || vm === NULL_REF) throw new XenApiError('HANDLE_INVALID', ['console', ref ?? uuid ?? '']);
  const rec = db.mustGet('VM', vm);
  if (rec.is_control_domain) throw new XenApiError('NOT_IMPLEMENTED', ['dom0 console']);
  if (rec.power_state !== 'Running' && rec.power_state !== 'Paused') {
    throw new XenApiError('VM_BAD_POWER_STATE', [vm, 'running', String(rec.power_state).toLowerCase()]);
  }
  const agent = svc.hosts.get(isNull(rec.resident_on) ? svc.hostRef() : String(rec.resident_on));
  const info = await agent.info(String(rec.uuid));
  if (!info.vncSocket) throw new XenApiError('NOT_IMPLEMENTED', ['console']);
  return { vm, socketPath: info.vncSocket };
}

function statusFor(e: unknown): [number, string] {
  if (!isXenApiError(e)) return [500, 'Internal Server Error'];
  if (e.code === 'SESSION_INVALID' || e.code === 'RBAC_PERMISSION_DENIED') return [403, 'Forbidden'];
  if (e.code === 'HANDLE_INVALID' || e.code === 'NOT_IMPLEMENTED') return [404, 'Not Found'];
  return [500, 'Internal Server Error'];
}

/** Relays bytes both ways; either side closing closes the other. */
function relay(a: Duplex, b: Socket) {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

export function consoleConnectHandler(svc: Services) {
  return async (req: IncomingMessage, socket: Duplex, head: Buffer, _conn: ConnectionInfo) => {
    let target: ConsoleTarget;
    try {
      target = await resolveConsole(svc, req);
    } catch (e) {
      const [code, text] = statusFor(e);
      socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    const vnc = connect(target.socketPath);
    vnc.once('connect', () => {
      socket.write('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nCache-Control: no-cache, no-store\r\n\r\n');
      if (head.length) vnc.write(head);
      relay(socket, vnc);
    });
    vnc.once('error', (e) => {
      log.warn('VNC socket unreachable', { vm: target.vm, error: e.message });
      if (socket.writable)
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
  };
}

/** WebSocket upgrades on /console (browser VNC clients). */
export function consoleWebSocketHandler(svc: Services) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 });
  return async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let target: ConsoleTarget;
    try {
      target = await resolveConsole(svc, req);
    } catch (e) {
      const [code, text] = statusFor(e);
      socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const vnc = connect(target.socketPath);
      vnc.on('data', (d) => ws.send(d, { binary: true }));
      ws.on('message', (d: Buffer) => vnc.write(d));
      const close = () => {
        vnc.destroy();
        ws.close();
      };
      vnc.on('error', close);
      vnc.on('close', close);
      ws.on('close', () => vnc.destroy());
      ws.on('error', () => vnc.destroy());
    });
  };
}
