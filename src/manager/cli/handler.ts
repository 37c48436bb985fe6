// POST /cli: xapi's thin CLI protocol on the server side. The body carries the command line;
// the server then takes the connection over, handshakes, logs in, runs the command and drives
// the client (print, prompt, connect, exit) until it sends Exit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ByteReader,
  encodeCommand,
  HANDSHAKE_LENGTH,
  handshake,
  PROTOCOL_MAJOR,
  parseHandshake,
} from '../../shared/cli-protocol.js';
import { logger } from '../../shared/log.js';
import { boolParam, getParam, parseBody, parseCommandLine } from './args.js';
import { commandTable } from './commands/index.js';
import type { ClientIo, CommandSpec, Ctx } from './context.js';
import { CliError, reportError } from './errors.js';
import { help } from './help.js';
import { type OutputSink, Printer } from './printer.js';
import { RefResolver } from './records.js';
import type { CliApi } from './types.js';

const log = logger('cli');

/** xapi's limit on the CLI request body. */
export const MAX_CLI_BODY = 200 * 1024;
/** Largest client message accepted (prompt answers). */
const MAX_MESSAGE = 1 << 20;

/** The client end of one CLI conversation. */
export class Conversation implements ClientIo, OutputSink {
  constructor(
    private readonly out: Duplex,
    private readonly reader: ByteReader,
  ) {}

  private send(b: Buffer) {
    if (!this.out.destroyed) this.out.write(b);
  }
  print(text: string) {
    this.send(encodeCommand({ kind: 'print', text }));
  }
  printStderr(text: string) {
    this.send(encodeCommand({ kind: 'printStderr', text }));
  }
  debug(text: string) {
    this.send(encodeCommand({ kind: 'debug', text }));
  }
  wireError(code: string, params: string[]) {
    this.send(encodeCommand({ kind: 'error', code, params }));
  }
  exit(code: number) {
    this.send(encodeCommand({ kind: 'exit', code }));
  }

  /** The next message that is not a heartbeat. */
  private async next() {
    for (;;) {
      const m = await this.reader.message(MAX_MESSAGE);
      if (!m) throw new Error('Lost connection to the client');
      if (m.tag === 'response' && m.response === 'wait') continue;
      return m;
    }
  }

  async prompt(): Promise<string> {
    this.send(encodeCommand({ kind: 'prompt' }));
    const chunks: Buffer[] = [];
    for (;;) {
      const m = await this.next();
      if (m.tag === 'end') break;
      if (m.tag !== 'chunk') throw new Error('Protocol error');
      if (m.length > MAX_MESSAGE) throw new Error('Protocol error');
      const data = await this.reader.read(m.length);
      if (!data) throw new Error('Lost connection to the client');
      chunks.push(data);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async httpConnect(url: string): Promise<boolean> {
    this.send(encodeCommand({ kind: 'httpConnect', url }));
    const m = await this.next();
    return m.tag === 'response' && m.response === 'ok';
  }

  async httpGet(filename: string, url: string): Promise<boolean> {
    this.send(encodeCommand({ kind: 'httpGet', filename, url }));
    const m = await this.next();
    return m.tag === 'response' && m.response === 'ok';
  }

  async httpPut(filename: string, url: string): Promise<boolean> {
    this.send(encodeCommand({ kind: 'httpPut', filename, url }));
    const m = await this.next();
    return m.tag === 'response' && m.response === 'ok';
  }
}

export interface CliOptions {
  /** Arrived over the local Unix socket: root needs no password. */
  local: boolean;
  /** The client's address (password-guessing limits). */
  remoteAddress?: string;
}

/** Logs in as the command line asks: an existing session, the local superuser, or a password. */
async function login(api: CliApi, params: [string, string][], opts: CliOptions) {
  const user = getParam(params, 'username') ?? '';
  const password = getParam(params, 'password') ?? '';
  if (opts.local && (user === '' || user === 'root')) return api.localLogin();
  return api.loginWithPassword(user, password, opts.remoteAddress);
}

/**
 * Runs one command line (the lines of the request body) against the API, driving `conv`.
 * Returns the exit code it sent.
 */
export async function runCli(
  api: CliApi,
  table: Map<string, CommandSpec>,
  body: string,
  conv: Conversation,
  opts: CliOptions,
): Promise<number> {
  let session: string | undefined;
  let ownSession = false;
  let resolver: RefResolver | undefined;
  try {
    const parsed = parseBody(body);
    const { cmd, params } = parseCommandLine(parsed.args);
    const p = new Printer(conv, boolParam(params, 'minimal'));
    if (cmd === 'help') {
      help(p, table, params);
      p.flush();
      conv.exit(0);
      return 0;
    }
    const spec = table.get(cmd);
    if (!spec) throw CliError.unknownCommand(cmd);
    for (const r of spec.reqd) if (getParam(params, r) === undefined) throw CliError.missing(r);
    if (parsed.session) session = parsed.session;
    else {
      session = await login(api, params, opts);
      ownSession = true;
    }
    resolver = new RefResolver(api, session);
    const ctx: Ctx = { api, session, cmd, params, p, io: conv, resolver };
    await spec.run(ctx);
    p.flush();
    conv.exit(0);
    return 0;
  } catch (e) {
    const describe = (s: string) => (resolver ? resolver.describe(s) : Promise.resolve(s));
    const report = await reportError(e, describe);
    if (!(e instanceof CliError))
      log.debug('command failed', { error: e instanceof Error ? e.message : String(e) });
    for (const l of report.stdout) conv.print(l);
    for (const l of report.stderr) conv.printStderr(`${l}\n`);
    if (report.wireError) conv.wireError(report.wireError.code, report.wireError.params);
    conv.exit(1);
    return 1;
  } finally {
    if (ownSession && session) await api.logout(session).catch(() => undefined);
  }
}

/**
 * Speaks the protocol on a raw connection whose request body was already read: handshake, run
 * the command, close.
 */
export async function serveCliConnection(
  api: CliApi,
  table: Map<string, CommandSpec>,
  sock: Duplex,
  body: string,
  opts: CliOptions,
  initial?: Buffer,
): Promise<void> {
  const reader = new ByteReader(sock, initial);
  sock.on('error', () => sock.destroy());
  sock.write(handshake());
  const hs = await reader.read(HANDSHAKE_LENGTH);
  const peer = hs && parseHandshake(hs);
  if (!peer || peer.major !== PROTOCOL_MAJOR) {
    sock.destroy();
    return;
  }
  const conv = new Conversation(sock, reader);
  await runCli(api, table, body, conv, opts);
  sock.end();
}

/** Reads the request body up to the CLI limit; undefined if larger. */
function readCliBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_CLI_BODY) return resolve(undefined);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_CLI_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_CLI_BODY ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Detaches a socket from Node's HTTP machinery after a request, so the bytes that follow (the
 * thin CLI protocol) reach us instead of the HTTP parser — what Node does itself for upgrades.
 */
function takeOver(req: IncomingMessage): Duplex {
  const sock = req.socket as Duplex & { parser?: { unconsume?: () => void } };
  sock.parser?.unconsume?.();
  sock.removeAllListeners('data');
  sock.removeAllListeners('end');
  sock.removeAllListeners('timeout');
  return sock;
}

/** The `POST /cli` route handler: mount it on the HTTP, HTTPS and Unix-socket listeners. */
export function createCliHandler(api: CliApi, table: Map<string, CommandSpec> = commandTable()) {
  return async (req: IncomingMessage, res: ServerResponse, conn: CliOptions = { local: false }) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { 'Content-Length': '0' }).end();
      return;
    }
    const body = await readCliBody(req);
    if (!body) {
      res.writeHead(413, { 'Content-Length': '0', Connection: 'close' }).end();
      return;
    }
    const sock = takeOver(req);
    try {
      await serveCliConnection(api, table, sock, body.toString('utf8'), {
        local: conn.local,
        remoteAddress: conn.remoteAddress,
      });
    } catch (e) {
      log.warn('cli connection failed', { error: e instanceof Error ? e.message : String(e) });
      sock.destroy();
    }
  };
}
