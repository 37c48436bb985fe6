// A QMP client: greeting and capabilities negotiation, commands correlated with replies by `id`,
// asynchronous events interleaved anywhere in the stream, and a socket that may close at any
// moment (pending commands then reject with QmpClosedError; 'closed' is emitted once).
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

/** QEMU answered a command with an error. */
export class QmpError extends Error {
  constructor(
    readonly cls: string,
    readonly desc: string,
  ) {
    super(`${cls}: ${desc}`);
  }
}

/** The connection closed before the reply (QEMU exited, crashed, or was killed). */
export class QmpClosedError extends Error {}

export class QmpTimeoutError extends Error {}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

interface Pending {
  execute: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const MAX_LINE = 16 * 1024 * 1024;

/** Splits a byte stream into JSON messages (QMP sends one per line). Throws on garbage. */
export class LineDecoder {
  private buf = '';
  push(chunk: string): unknown[] {
    this.buf += chunk;
    const out: unknown[] = [];
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line) out.push(JSON.parse(line));
    }
    if (this.buf.length > MAX_LINE) throw new Error('QMP message too long');
    return out;
  }
}

type Message = Record<string, any>;

export class QmpClient extends EventEmitter {
  private socket?: Socket;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private isClosed = false;
  private readonly closedPromise: Promise<void>;
  private markClosed!: () => void;

  private constructor() {
    super();
    this.closedPromise = new Promise((r) => {
      this.markClosed = r;
    });
  }

  /** Connects, reads the greeting, negotiates capabilities; rejects after timeoutMs. */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const c = new QmpClient();
    await c.open(path, timeoutMs);
    return c;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Resolves once the connection has closed. */
  waitClosed(): Promise<void> {
    return this.closedPromise;
  }

  private open(path: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      this.socket = socket;
      const decoder = new LineDecoder();
      let greeted = false;
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () => fail(new QmpTimeoutError(`QMP handshake timed out on ${path}`)),
        timeoutMs,
      );
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        let messages: unknown[];
        try {
          messages = decoder.push(chunk);
        } catch (e) {
          fail(new Error(`QMP protocol error on ${path}: ${(e as Error).message}`));
          socket.destroy();
          return;
        }
        for (const m of messages as Message[]) {
          if (!m || typeof m !== 'object') continue;
          if (!greeted && m.QMP) {
            greeted = true;
            this.command('qmp_capabilities', undefined, timeoutMs).then(() => {
              if (settled) return;
              settled = true;
              clearTimeout(timer);
              resolve();
            }, fail);
            continue;
          }
          this.dispatch(m);
        }
      });
      socket.on('error', (e) => fail(e));
      socket.on('close', () => {
        this.isClosed = true;
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new QmpClosedError(`QMP connection closed during ${p.execute}`));
        }
        this.pending.clear();
        fail(new QmpClosedError(`QMP connection to ${path} closed during the handshake`));
        this.markClosed();
        this.emit('closed');
      });
    });
  }

  private dispatch(m: Message) {
    if (typeof m.event === 'string') {
      this.emit('event', m as QmpEvent);
      return;
    }
    if (m.id === undefined) return; // a reply we did not ask for
    const id = String(m.id);
    const p = this.pending.get(id);
    if (!p) return; // timed out earlier: too late now
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (m.error) p.reject(new QmpError(String(m.error.class), String(m.error.desc)));
    else p.resolve(m.return);
  }

  /** Runs a command; rejects with QmpError, QmpClosedError or QmpTimeoutError. */
  command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    const socket = this.socket;
    if (this.isClosed || !socket) return Promise.reject(new QmpClosedError('QMP connection closed'));
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(`QMP ${execute} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { execute, resolve: resolve as (v: unknown) => void, reject, timer });
      socket.write(`${JSON.stringify(args ? { execute, arguments: args, id } : { execute, id })}\n`);
    });
  }

  close() {
    this.socket?.destroy();
  }
}
