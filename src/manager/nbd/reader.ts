// Exact-length reads from a stream during a handshake (`await r.read(16)`), then hand-over of
// whatever was buffered when the stream changes hands (STARTTLS, transmission relay).
import type { Duplex } from 'node:stream';

export class ConnectionClosed extends Error {
  constructor() {
    super('connection closed');
  }
}

export class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter?: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private ended = false;
  private failure?: Error;
  private readonly onData = (c: Buffer) => {
    this.chunks.push(c);
    this.buffered += c.length;
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };
  private readonly onError = (e: Error) => {
    this.failure = e;
    this.wake();
  };

  constructor(private readonly stream: Duplex) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
  }

  /** The next `n` bytes; rejects with ConnectionClosed if the stream ends first. */
  read(n: number): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error('concurrent read'));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.wake();
    });
  }

  /** Stops listening; returns the bytes read but not consumed. */
  detach(): Buffer {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    this.stream.off('error', this.onError);
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  private wake() {
    const w = this.waiter;
    if (!w) return;
    if (this.buffered >= w.n) {
      this.waiter = undefined;
      w.resolve(this.take(w.n));
    } else if (this.failure || this.ended) {
      this.waiter = undefined;
      w.reject(this.failure ?? new ConnectionClosed());
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}
