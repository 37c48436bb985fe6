// One xe invocation on the wire: connect (Unix socket, TCP or TLS), POST /cli, handshake, then
// obey the server's commands until Exit.
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { resolve } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import tls from 'node:tls';
import {
  ByteReader,
  encodeChunk,
  encodeEnd,
  encodeResponse,
  HANDSHAKE_LENGTH,
  handshake,
  PROTOCOL_MAJOR,
  parseHandshake,
} from '../../shared/cli-protocol.js';
import type { XeOptions } from './main.js';
import { ClientSideError, httpGet, httpPut } from './transfer.js';

/** xe sends Response Wait this often during a long transfer (protocol >= 0.2). */
const HEARTBEAT_MS = 300_000;

export interface ClientStreams {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** Draw task progress (stderr is a terminal). */
  progress: boolean;
}

interface Target {
  connect(): Duplex;
}

/** Where to connect: the local socket for the default server, else TCP (TLS unless --nossl). */
export function chooseTarget(o: XeOptions): Target {
  const host = o.server.replace(/^\[(.*)\]$/, '$1');
  if (host === '127.0.0.1' && o.port === undefined && existsSync(o.socket))
    return { connect: () => net.connect(o.socket) };
  if (o.nossl || host === '127.0.0.1') return { connect: () => net.connect(o.port ?? 80, host) };
  // Like xe (stunnel), the server certificate is not verified.
  return {
    connect: () =>
      tls.connect({
        host,
        port: o.port ?? 443,
        rejectUnauthorized: false,
        servername: net.isIP(host) ? undefined : host,
      }),
  };
}

/** The request xe writes (HTTP/1.0, header names as xe spells them). */
export function cliRequest(args: string[], username: string, password: string): Buffer {
  const body = Buffer.from([...args, `username=${username}`, `password=${password}`].join('\n'), 'utf8');
  const head = `POST /cli HTTP/1.0\r\nUser-agent: xe-cli/Unix/0.2\r\noriginator: cli\r\ncontent-length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'ascii'), body]);
}

/** The local paths the server may read or write: values of k=v arguments (xe's safety rule). */
function permittedFiles(args: string[]): Set<string> {
  const out = new Set<string>();
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0) out.add(resolve(a.slice(eq + 1)));
  }
  return out;
}

function connected(s: Duplex): Promise<void> {
  return new Promise((ok, fail) => {
    s.once(s instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => ok());
    s.once('error', fail);
  });
}

function readLine(stdin: NodeJS.ReadableStream): Promise<string> {
  return new Promise((ok) => {
    // Already at EOF (an earlier prompt read it): 'end' is not emitted twice, so answer now.
    if ((stdin as Readable).readableEnded) return ok('');
    let buf = '';
    const onData = (c: Buffer | string) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        stdin.removeListener('data', onData);
        stdin.removeListener('end', onEnd);
        stdin.pause();
        // Lines after this one belong to the next prompts.
        if (nl + 1 < buf.length) stdin.unshift(Buffer.from(buf.slice(nl + 1)));
        ok(buf.slice(0, nl));
      }
    };
    const onEnd = () => ok(buf);
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  });
}

/** A progress line: `\r 42% [#####     ]`. */
export function progressLine(fraction: number): string {
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  const width = 40;
  const done = Math.round((pct / 100) * width);
  return `\r ${String(pct).padStart(3)}% [${'#'.repeat(done)}${' '.repeat(width - done)}]`;
}

export async function runThinClient(
  o: XeOptions,
  io: ClientStreams,
  target = chooseTarget(o),
): Promise<number> {
  const sock = target.connect();
  try {
    await connected(sock);
  } catch {
    io.stderr.write('Unable to contact server. Please check server and port settings.\n');
    return 1;
  }
  const reader = new ByteReader(sock);
  sock.write(cliRequest(o.args, o.username, o.password));
  const hs = await reader.read(HANDSHAKE_LENGTH);
  const peer = hs && parseHandshake(hs);
  if (!peer) {
    io.stderr.write(
      'Failed to contact a running management agent.\nTry specifying a server name and port.\n',
    );
    sock.destroy();
    return 1;
  }
  if (peer.major !== PROTOCOL_MAJOR) {
    io.stderr.write(`Protocol version mismatch: server ${peer.major}.${peer.minor}\n`);
    sock.destroy();
    return 1;
  }
  sock.write(handshake());
  const files = permittedFiles(o.args);
  let drawing = false;
  const endProgress = () => {
    if (drawing) io.stderr.write('\n');
    drawing = false;
  };
  try {
    for (;;) {
      const m = await reader.message(64 << 20);
      if (!m) {
        io.stderr.write('Lost connection to the server.\n');
        return 1;
      }
      if (m.tag !== 'command') continue;
      const c = m.command;
      switch (c.kind) {
        case 'print':
          endProgress();
          io.stdout.write(`${c.text}\n`);
          break;
        case 'printStderr':
          endProgress();
          io.stderr.write(c.text);
          break;
        case 'debug': {
          const p = /^task-progress \S+ ([\d.]+)$/.exec(c.text);
          if (p && io.progress) {
            io.stderr.write(progressLine(Number(p[1])));
            drawing = true;
          } else if (/^task-done /.test(c.text)) endProgress();
          else if (o.debug) io.stderr.write(`${c.text}\n`);
          break;
        }
        case 'prompt': {
          const line = await readLine(io.stdin);
          const data = Buffer.from(line, 'utf8');
          sock.write(encodeChunk(data.length));
          sock.write(data);
          sock.write(encodeEnd());
          break;
        }
        case 'load': {
          const path = resolve(c.filename);
          if (!files.has(path)) {
            io.stderr.write(
              `Blocked upload/download of the file ${c.filename}, which was requested by the server. The file name was not present on the command line\n`,
            );
            sock.write(encodeResponse('failed'));
            break;
          }
          let data: Buffer;
          try {
            data = readFileSync(path);
          } catch {
            sock.write(encodeResponse('failed'));
            break;
          }
          sock.write(encodeResponse('ok'));
          if (data.length) {
            sock.write(encodeChunk(data.length));
            sock.write(data);
          }
          sock.write(encodeEnd());
          break;
        }
        case 'httpGet':
        case 'httpPut': {
          const { filename } = c;
          if ((c.kind === 'httpPut' || filename !== '') && !files.has(resolve(filename))) {
            io.stderr.write(
              `Blocked upload/download of the file ${filename}, which was requested by the server. The file name was not present on the command line\n`,
            );
            sock.write(encodeResponse('failed'));
            break;
          }
          // The loop goes on reading (progress messages) while the bytes move; the server sends
          // nothing else that needs an answer until this one is answered.
          const heartbeat = setInterval(() => sock.write(encodeResponse('wait')), HEARTBEAT_MS);
          const transferTarget = { connect: () => target.connect(), httpsPort: o.port ?? 443 };
          const moving =
            c.kind === 'httpGet'
              ? httpGet(filename, c.url, transferTarget, io.stdout as Writable)
              : httpPut(filename, c.url, transferTarget);
          void moving
            .then(
              () => 'ok' as const,
              (e: unknown) => {
                if (e instanceof ClientSideError) io.stderr.write(`Operation failed. Error: ${e.message}\n`);
                else if (o.debug)
                  io.stderr.write(`Http${c.kind === 'httpGet' ? 'Get' : 'Put'} failure: ${String(e)}\n`);
                return 'failed' as const;
              },
            )
            .then((r) => {
              clearInterval(heartbeat);
              if (!sock.destroyed) sock.write(encodeResponse(r));
            });
          break;
        }
        case 'httpConnect':
          sock.write(encodeResponse((await consoleSession(target, c.url, io)) ? 'ok' : 'failed'));
          break;
        case 'error':
          endProgress();
          io.stderr.write(`Error code: ${c.code}\nError parameters: ${c.params.join(', ')}\n`);
          break;
        case 'exit':
          endProgress();
          return c.code;
      }
    }
  } finally {
    sock.destroy();
  }
}

/** Console: CONNECT to the server, then proxy the terminal until Ctrl-] (0x1d). */
async function consoleSession(target: Target, url: string, io: ClientStreams): Promise<boolean> {
  const s = target.connect();
  try {
    await connected(s);
  } catch {
    return false;
  }
  s.write(`CONNECT ${url} HTTP/1.0\r\ncontent-length: 0\r\n\r\n`);
  const reader = new ByteReader(s);
  let head = '';
  while (!head.includes('\r\n\r\n')) {
    const b = await reader.read(1);
    if (!b) return false;
    head += b.toString('latin1');
  }
  const status = Number(/^HTTP\/\d\.\d (\d+)/.exec(head)?.[1]);
  if (status === 404) io.stderr.write('Server replied with HTTP 404: the console is not available\n');
  if (status !== 200) {
    s.destroy();
    return false;
  }
  const stdin = io.stdin as NodeJS.ReadStream;
  const raw = stdin.isTTY ? stdin.setRawMode.bind(stdin) : undefined;
  raw?.(true);
  return new Promise((done) => {
    const finish = (ok: boolean) => {
      stdin.removeListener('data', onIn);
      raw?.(false);
      stdin.pause();
      s.destroy();
      done(ok);
    };
    const onIn = (c: Buffer) => {
      const i = c.indexOf(0x1d);
      if (i >= 0) {
        if (i > 0) s.write(c.subarray(0, i));
        finish(true);
      } else s.write(c);
    };
    stdin.on('data', onIn);
    stdin.resume();
    // Bytes already buffered by the header reader, then the stream.
    void (async () => {
      for (;;) {
        const b = await reader.read(1);
        if (!b) return finish(true);
        io.stdout.write(b);
      }
    })();
  });
}
