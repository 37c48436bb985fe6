// The host's NBD export server (xapi-nbd's job), one per host, TCP 10809 by default.
//
// Fixed-newstyle handshake: NBD_OPT_STARTTLS (forced when a network has purpose `nbd`, refused
// when the purpose is `insecure_nbd`, every option refused when neither or both are set),
// NBD_OPT_GO / NBD_OPT_INFO / NBD_OPT_EXPORT_NAME, NBD_OPT_STRUCTURED_REPLY,
// NBD_OPT_{LIST,SET}_META_CONTEXT (`base:allocation`), NBD_OPT_LIST refused (as xapi-nbd, which
// offers no list), NBD_OPT_ABORT. The export name `/<vdi uuid>?session_id=<ref>` is authorized by
// `authorize` (exports.ts); the disk itself comes from `openBackend` (an NBD server on a private
// Unix socket, in Berth the agent's qemu-storage-daemon), with which this server does its own
// handshake (backend.ts) before relaying the transmission phase (relay.ts). Exports are read-only,
// as xapi-nbd's (it plugs a read-only VBD).
//
// Wiring: startNbdServer (index.ts), called by Manager.listen(), builds it with `mode: () =>
// nbdMode(db)`, the authorization of exports.ts (a slave's: the master's, pool.ts) and the
// agent-backed backends of vdi-backend.ts.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { logger } from '../../shared/log.js';
import { type Backend, type BackendSession, negotiateBackend } from './backend.js';
import {
  BASE_ALLOCATION,
  exportNameReply,
  errorReply,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  greeting,
  IHAVEOPT,
  Info,
  infoBlockSize,
  infoExport,
  infoName,
  metaContextReply,
  OPT_HEADER,
  Opt,
  optionReply,
  parseInfoRequest,
  parseMetaContextRequest,
  ProtocolError,
  Rep,
  selectsBaseAllocation,
  TF,
  WRITE_FLAGS,
} from './protocol.js';
import { ByteReader } from './reader.js';
import { relay } from './relay.js';

const log = logger('nbd');

export const NBD_PORT = 10809;

/** How connections are secured now (read from the networks' purposes at each connection). */
export type NbdMode = { kind: 'tls' } | { kind: 'plain' } | { kind: 'refuse'; reason: string };

/** An export the caller may read. */
export interface AuthorizedExport {
  vdi: string;
  readOnly: boolean;
}

/** Thrown by `authorize`: the NBD error reply type and the text sent with it. */
export class ExportRefused extends Error {
  constructor(
    readonly reply: number,
    message: string,
  ) {
    super(message);
  }
}

export interface NbdServerOptions {
  mode(): NbdMode;
  /** Certificate and key (PEM) served after NBD_OPT_STARTTLS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  authorize(exportName: string): Promise<AuthorizedExport> | AuthorizedExport;
  openBackend(vdi: string): Promise<Backend>;
  /** Whole handshake deadline (slow or silent clients): default 30 s. */
  handshakeTimeoutMs?: number;
  /** Simultaneous connections (xapi-nbd: 16). */
  maxConnections?: number;
  /** Longest option data accepted (export names are at most 4096 bytes). */
  maxOptionLength?: number;
}

/** The client closed, aborted, or must be disconnected (the reason is logged). */
class Hangup extends Error {}

interface Negotiated {
  stream: Duplex;
  reader: ByteReader;
  structured: boolean;
  readOnly: boolean;
  backend: Backend;
  session: BackendSession;
  allocationClientId?: number;
}

/** The id this server gives base:allocation (the backend's is mapped to it in block-status replies). */
const ALLOCATION_ID = 1;

export class NbdServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** Connections being served, until their backend is closed. */
  private readonly serving = new Set<Promise<void>>();
  private readonly secureContext?: tls.SecureContext;

  constructor(private readonly opts: NbdServerOptions) {
    if (opts.tls) this.secureContext = tls.createSecureContext({ cert: opts.tls.cert, key: opts.tls.key });
    this.server = net.createServer((s) => this.accept(s));
  }

  listen(port = NBD_PORT, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve((this.server.address() as net.AddressInfo).port));
    });
  }

  /** Stops listening, ends every connection and waits until their backends are closed. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.serving]);
  }

  get connections(): number {
    return this.sockets.size;
  }

  private accept(socket: net.Socket) {
    const max = this.opts.maxConnections ?? 16;
    if (this.sockets.size >= max) {
      log.warn('refusing NBD connection: server busy', { max });
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const served = this.serve(socket).finally(() => this.serving.delete(served));
    this.serving.add(served);
  }

  private async serve(socket: net.Socket) {
    const timeout = this.opts.handshakeTimeoutMs ?? 30_000;
    let stream: Duplex = socket;
    const timer = setTimeout(() => {
      log.info('NBD handshake timed out', { remote: socket.remoteAddress });
      stream.destroy();
      socket.destroy();
    }, timeout);
    let negotiated: Negotiated | undefined;
    try {
      negotiated = await this.negotiate(socket, (s) => {
        stream = s;
      });
      clearTimeout(timer);
      const n = negotiated;
      await relay(n.stream, n.session.socket, {
        structured: n.structured,
        readOnly: n.readOnly,
        contextIds:
          n.allocationClientId !== undefined && n.session.allocationId !== undefined
            ? new Map([[n.session.allocationId, n.allocationClientId]])
            : new Map(),
        clientRest: n.reader.detach(),
        backendRest: n.session.rest,
        onProtocolError: (m) => log.info('NBD connection closed: protocol error', { error: m }),
      });
    } catch (e) {
      if (!(e instanceof Hangup) && !(e instanceof ProtocolError))
        log.debug('NBD connection ended', { error: String(e) });
      else log.debug('NBD client disconnected', { reason: (e as Error).message });
    } finally {
      clearTimeout(timer);
      stream.destroy();
      socket.destroy();
      if (negotiated) await closeBackend(negotiated.backend);
    }
  }

  /** The handshake, up to the transmission phase (or a throw: the connection is closed). */
  private async negotiate(socket: net.Socket, setStream: (s: Duplex) => void): Promise<Negotiated> {
    let stream: Duplex = socket;
    let reader = new ByteReader(socket);
    const send = (b: Buffer) => stream.write(b);
    send(greeting());
    const cflags = (await reader.read(4)).readUInt32BE(0);
    if (cflags & ~(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)) throw new Hangup('unknown client flags');
    const noZeroes = (cflags & FLAG_NO_ZEROES) !== 0;
    const mode = this.opts.mode();
    if (mode.kind === 'tls' && !(cflags & FLAG_FIXED_NEWSTYLE))
      throw new Hangup('TLS required but the client is not fixed newstyle');
    if (mode.kind === 'tls' && !this.secureContext) throw new Hangup('TLS required but no certificate');
    let secure = false;
    let structured = false;
    let meta: { name: string; allocation: boolean } | undefined;
    const maxLen = this.opts.maxOptionLength ?? 8192;

    for (;;) {
      const h = await reader.read(OPT_HEADER);
      if (h.readBigUInt64BE(0) !== IHAVEOPT) throw new Hangup('bad option magic');
      const option = h.readUInt32BE(8);
      const len = h.readUInt32BE(12);
      if (len > maxLen) {
        send(
          errorReply(option, Rep.ERR_TOO_BIG, `option data of ${len} bytes is over the limit (${maxLen})`),
        );
        throw new Hangup('option too long');
      }
      const data = len ? await reader.read(len) : Buffer.alloc(0);
      const refuse = (type: number, message: string) => send(errorReply(option, type, message));

      if (option === Opt.ABORT) {
        send(optionReply(option, Rep.ACK));
        throw new Hangup('client aborted');
      }
      if (mode.kind === 'refuse') {
        if (option === Opt.EXPORT_NAME) throw new Hangup(mode.reason);
        refuse(Rep.ERR_POLICY, mode.reason);
        continue;
      }
      if (mode.kind === 'tls' && !secure) {
        if (option === Opt.EXPORT_NAME) throw new Hangup('export requested before STARTTLS');
        if (option !== Opt.STARTTLS) {
          refuse(Rep.ERR_TLS_REQD, 'TLS is required (a network has purpose nbd): send NBD_OPT_STARTTLS');
          continue;
        }
        if (len) {
          refuse(Rep.ERR_INVALID, 'NBD_OPT_STARTTLS takes no data');
          continue;
        }
        send(optionReply(option, Rep.ACK));
        const rest = reader.detach();
        if (rest.length) throw new Hangup('data sent before the TLS handshake');
        const tlsSocket = new tls.TLSSocket(socket, { isServer: true, secureContext: this.secureContext });
        tlsSocket.on('error', () => {});
        stream = tlsSocket;
        setStream(tlsSocket);
        reader = new ByteReader(tlsSocket);
        secure = true;
        continue;
      }

      switch (option) {
        case Opt.STARTTLS:
          if (secure) refuse(Rep.ERR_INVALID, 'TLS is already on');
          else refuse(Rep.ERR_POLICY, 'TLS is not offered (a network has purpose insecure_nbd)');
          break;
        case Opt.LIST:
          refuse(Rep.ERR_POLICY, 'exports are not listed: VDI.get_nbd_info gives their names');
          break;
        case Opt.STRUCTURED_REPLY:
          if (len) refuse(Rep.ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
          else {
            structured = true;
            send(optionReply(option, Rep.ACK));
          }
          break;
        case Opt.LIST_META_CONTEXT:
        case Opt.SET_META_CONTEXT: {
          if (!structured) {
            refuse(Rep.ERR_INVALID, 'meta contexts need structured replies');
            break;
          }
          let req: { name: string; queries: string[] };
          try {
            req = parseMetaContextRequest(data);
          } catch (e) {
            refuse(Rep.ERR_INVALID, (e as Error).message);
            break;
          }
          const refusal = await this.check(req.name);
          if (refusal) {
            refuse(refusal.reply, refusal.message);
            break;
          }
          const listing = option === Opt.LIST_META_CONTEXT;
          const allocation = req.queries.some(selectsBaseAllocation) || (listing && req.queries.length === 0);
          if (!listing) meta = { name: req.name, allocation };
          if (allocation)
            send(optionReply(option, Rep.META_CONTEXT, metaContextReply(ALLOCATION_ID, BASE_ALLOCATION)));
          send(optionReply(option, Rep.ACK));
          break;
        }
        case Opt.INFO:
        case Opt.GO: {
          let req: { name: string; requests: number[] };
          try {
            req = parseInfoRequest(data);
          } catch (e) {
            refuse(Rep.ERR_INVALID, (e as Error).message);
            break;
          }
          const allocation = meta?.name === req.name && meta.allocation;
          const opened = await this.open(req.name, structured, allocation);
          if ('refused' in opened) {
            refuse(opened.refused.reply, opened.refused.message);
            break;
          }
          const { exp, backend, session } = opened;
          send(
            optionReply(option, Rep.INFO, infoExport(session.size, clientFlags(session.flags, exp.readOnly))),
          );
          if (req.requests.includes(Info.NAME)) send(optionReply(option, Rep.INFO, infoName(req.name)));
          if (session.blockSize) {
            const b = session.blockSize;
            send(optionReply(option, Rep.INFO, infoBlockSize(b.min, b.preferred, b.max)));
          }
          send(optionReply(option, Rep.ACK));
          if (option === Opt.INFO) {
            session.socket.destroy();
            await closeBackend(backend);
            break;
          }
          return {
            stream,
            reader,
            structured,
            readOnly: exp.readOnly,
            backend,
            session,
            allocationClientId: allocation ? ALLOCATION_ID : undefined,
          };
        }
        case Opt.EXPORT_NAME: {
          const name = data.toString('utf8');
          const opened = await this.open(name, structured, false);
          if ('refused' in opened) throw new Hangup(`export refused: ${opened.refused.message}`);
          const { exp, backend, session } = opened;
          send(exportNameReply(session.size, clientFlags(session.flags, exp.readOnly), noZeroes));
          return { stream, reader, structured, readOnly: exp.readOnly, backend, session };
        }
        default:
          refuse(Rep.ERR_UNSUP, `option ${option} is not supported`);
      }
    }
  }

  /** undefined when `name` is an export the caller may read, else why not. */
  private async check(name: string): Promise<{ reply: number; message: string } | undefined> {
    try {
      await this.opts.authorize(name);
      return undefined;
    } catch (e) {
      return refusalOf(e);
    }
  }

  /** Authorizes `name`, opens its backend and negotiates with it. */
  private async open(
    name: string,
    structured: boolean,
    allocation: boolean,
  ): Promise<
    | { exp: AuthorizedExport; backend: Backend; session: BackendSession }
    | { refused: { reply: number; message: string } }
  > {
    let exp: AuthorizedExport;
    try {
      exp = await this.opts.authorize(name);
    } catch (e) {
      return { refused: refusalOf(e) };
    }
    let backend: Backend | undefined;
    try {
      backend = await this.opts.openBackend(exp.vdi);
      const session = await negotiateBackend(backend, { structured, allocation });
      return { exp, backend, session };
    } catch (e) {
      if (backend) await closeBackend(backend);
      if (e instanceof ExportRefused) return { refused: refusalOf(e) };
      log.warn('NBD backend unavailable', { vdi: exp.vdi, error: String(e) });
      return { refused: { reply: Rep.ERR_UNKNOWN, message: 'the disk cannot be served now' } };
    }
  }
}

function refusalOf(e: unknown): { reply: number; message: string } {
  if (e instanceof ExportRefused) return { reply: e.reply, message: e.message };
  log.warn('NBD authorization failed', { error: String(e) });
  return { reply: Rep.ERR_UNKNOWN, message: 'export not available' };
}

/** The transmission flags the client sees: the backend's, read-only ones without write flags. */
export function clientFlags(backendFlags: number, readOnly: boolean): number {
  const f = backendFlags | TF.HAS_FLAGS;
  return readOnly ? (f | TF.READ_ONLY) & ~WRITE_FLAGS : f;
}

async function closeBackend(b: Backend) {
  try {
    await b.close();
  } catch (e) {
    log.warn('closing an NBD backend failed', { error: String(e) });
  }
}
