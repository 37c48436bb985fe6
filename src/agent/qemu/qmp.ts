// A QMP client: greeting and capabilities negotiation, commands correlated with replies by `id`,
// asynchronous events interleaved anywhere in the stream, and a socket that may close at any
// moment (pending commands then reject; `closed` fires once).
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

export class QmpError extends Error {
  constructor(
    readonly cls: string,
    readonly desc: string,
  ) {
    super(`${cls}: ${desc}`);
  }
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Splits a byte stream into JSON messages (QMP sends one per line). */
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
    return out;
  }
}

export class QmpClient extends EventEmitter {
  private socket?: Socket;
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private isClosed = false;

  /** Connects, reads the greeting, negotiates capabilities. */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const c = new QmpClient();
    await c.open(path, timeoutMs);
    return c;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private open(path: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      this.socket = socket;
      const decoder = new LineDecoder();
      let greeted = false;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`QMP greeting timed out on ${path}`));
      }, timeoutMs);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        let messages: unknown[];
        try {
          messages = decoder.push(chunk);
        } catch {
          socket.destroy();
          return;
        }
        for (const m of messages as Record<string, any>[]) {
          if (!greeted && m.QMP) {
            greeted = true;
            clearTimeout(timer);
            this.command('qmp_capabilities').then(() => resolve(), reject);
            continue;
          }
          this.dispatch(m);
        }
      });
      socket.on('error', (e) => {
        clearTimeout(timer);
        if (!greeted) reject(e);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        this.isClosed = true;
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error('QMP connection closed'));
        }
        this.pending.clear();
        if (!greeted) reject(new Error('QMP connection closed before the greeting'));
        this.emit('closed');
      });
    });
  }

  private dispatch(m: Record<string, any>) {
    if (typeof m.event === 'string') {
      this.emit('event', m as QmpEvent);
      return;
    }
    const id = m.id === undefined ? undefined : String(m.id);
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p || id === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (m.error) p.reject(new QmpError(String(m.error.class), String(m.error.desc)));
    else p.resolve(m.return);
  }

  command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.isClosed || !this.socket) return Promise.reject(new Error('QMP connection closed'));
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${execute} timed out`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.socket!.write(`${JSON.stringify(args ? { execute, arguments: args, id } : { execute, id })}\n`);
    });
  }

  close() {
    this.socket?.destroy();
  }
}
