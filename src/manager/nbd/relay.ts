// The transmission phase: requests flow from the client to the backend NBD server and replies
// back, framed (headers parsed, payloads passed through without copying) so that the relay can
// refuse writes to a read-only export itself (EPERM, injected between two backend replies) and
// map the backend's meta-context id to the one the client was given. Backpressure both ways.
import type { Duplex } from 'node:stream';
import {
  Cmd,
  Errno,
  REPLY_FLAG_DONE,
  REQUEST_HEADER,
  REQUEST_MAGIC,
  ReplyType,
  SIMPLE_REPLY_HEADER,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_HEADER,
  STRUCTURED_REPLY_MAGIC,
  simpleReply,
  structuredError,
  WRITE_COMMANDS,
} from './protocol.js';

export interface RelayOptions {
  structured: boolean;
  readOnly: boolean;
  /** Backend meta-context id → the id the client was told (block-status chunks are rewritten). */
  contextIds: ReadonlyMap<number, number>;
  /** Bytes already read from each side before the relay started. */
  clientRest?: Buffer;
  backendRest?: Buffer;
  /** Why the relay ended abnormally (logged by the caller). */
  onProtocolError?: (message: string) => void;
}

/** Bytes queued towards one side before the other side is paused. */
const MAX_QUEUED = 4 * 1024 * 1024;

/** Largest block-status payload buffered to rewrite its context id (qemu sends far less). */
const MAX_BLOCK_STATUS = 16 * 1024 * 1024;

interface Pending {
  type: number;
  length: number;
}

/** Splits a byte stream into headers (assembled) and payloads (passed on in slices). */
class Framer {
  private header = Buffer.alloc(Math.max(STRUCTURED_REPLY_HEADER, REQUEST_HEADER));
  private have = 0;
  private want = 0;
  payloadLeft = 0;
  constructor(
    /** How many header bytes are needed given the first 4 (the magic); 0 = bad magic. */
    private readonly headerSize: (magic: number) => number,
    private readonly onHeader: (h: Buffer) => void,
    private readonly onPayload: (slice: Buffer) => void,
    private readonly onBoundary: () => void,
  ) {}

  get atBoundary() {
    return this.have === 0 && this.payloadLeft === 0;
  }

  push(chunk: Buffer) {
    let off = 0;
    while (off < chunk.length) {
      if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, chunk.length - off);
        this.payloadLeft -= n;
        this.onPayload(chunk.subarray(off, off + n));
        off += n;
        if (this.payloadLeft === 0) this.onBoundary();
        continue;
      }
      if (this.have < 4) {
        const n = Math.min(4 - this.have, chunk.length - off);
        chunk.copy(this.header, this.have, off, off + n);
        this.have += n;
        off += n;
        if (this.have < 4) return;
        this.want = this.headerSize(this.header.readUInt32BE(0));
        if (this.want === 0) throw new Error(`bad magic 0x${this.header.readUInt32BE(0).toString(16)}`);
      }
      const n = Math.min(this.want - this.have, chunk.length - off);
      chunk.copy(this.header, this.have, off, off + n);
      this.have += n;
      off += n;
      if (this.have < this.want) return;
      const h = Buffer.from(this.header.subarray(0, this.want));
      this.have = 0;
      this.onHeader(h);
      if (this.payloadLeft === 0) this.onBoundary();
    }
  }
}

/** Pipes client ⇄ backend until either side closes; resolves once both are closed. */
export function relay(client: Duplex, backend: Duplex, opts: RelayOptions): Promise<void> {
  const pending = new Map<string, Pending>();
  const injected: Buffer[] = [];
  let closed = false;

  const fail = (message: string) => {
    if (closed) return;
    opts.onProtocolError?.(message);
    client.destroy();
    backend.destroy();
  };

  // Backpressure on bytes queued, not on each write's return value: a 16 KiB high-water mark
  // would pause the other side after every 64 KiB read and halve throughput.
  const throttle = (to: Duplex, from: Duplex) => {
    let paused = false;
    return (b: Buffer) => {
      to.write(b);
      if (!paused && to.writableLength > MAX_QUEUED) {
        paused = true;
        from.pause();
        to.once('drain', () => {
          paused = false;
          from.resume();
        });
      }
    };
  };
  const toBackend = throttle(backend, client);
  const toClient = throttle(client, backend);

  // ---- requests: client → backend
  let forwardPayload = true;
  const requests = new Framer(
    (magic) => (magic === REQUEST_MAGIC ? REQUEST_HEADER : 0),
    (h) => {
      const type = h.readUInt16BE(6);
      const handle = h.subarray(8, 16);
      const length = h.readUInt32BE(24);
      const payload = type === Cmd.WRITE ? length : 0;
      if (opts.readOnly && WRITE_COMMANDS.has(type)) {
        forwardPayload = false;
        requests.payloadLeft = payload;
        const reply = opts.structured
          ? structuredError(Buffer.from(handle), Errno.EPERM, 'this NBD export is read-only')
          : simpleReply(Buffer.from(handle), Errno.EPERM);
        if (replies.atBoundary) toClient(reply);
        else injected.push(reply);
        return;
      }
      forwardPayload = true;
      requests.payloadLeft = payload;
      pending.set(handle.toString('hex'), { type, length });
      toBackend(h);
    },
    (slice) => {
      if (forwardPayload) toBackend(slice);
    },
    () => {},
  );

  // ---- replies: backend → client
  let blockStatus: Buffer[] | undefined;
  let blockStatusHeader: Buffer | undefined;
  const replies = new Framer(
    (magic) =>
      magic === SIMPLE_REPLY_MAGIC
        ? SIMPLE_REPLY_HEADER
        : magic === STRUCTURED_REPLY_MAGIC
          ? STRUCTURED_REPLY_HEADER
          : 0,
    (h) => {
      const key = h.subarray(8, 16).toString('hex');
      const p = pending.get(key);
      if (h.readUInt32BE(0) === SIMPLE_REPLY_MAGIC) {
        pending.delete(key);
        const error = h.readUInt32BE(4);
        replies.payloadLeft = error === 0 && p?.type === Cmd.READ && !opts.structured ? p.length : 0;
        toClient(h);
        return;
      }
      const flags = h.readUInt16BE(4);
      const type = h.readUInt16BE(6);
      const length = h.readUInt32BE(16);
      if (flags & REPLY_FLAG_DONE) pending.delete(key);
      replies.payloadLeft = length;
      if (type === ReplyType.BLOCK_STATUS && opts.contextIds.size && length >= 4) {
        if (length > MAX_BLOCK_STATUS) throw new Error('block status reply too large');
        blockStatus = [];
        blockStatusHeader = h;
        return;
      }
      toClient(h);
    },
    (slice) => {
      if (blockStatus) blockStatus.push(Buffer.from(slice));
      else toClient(slice);
    },
    () => {
      if (blockStatus && blockStatusHeader) {
        const body = Buffer.concat(blockStatus);
        const id = body.readUInt32BE(0);
        const mapped = opts.contextIds.get(id);
        if (mapped !== undefined) body.writeUInt32BE(mapped, 0);
        blockStatus = undefined;
        toClient(Buffer.concat([blockStatusHeader, body]));
        blockStatusHeader = undefined;
      }
      for (const r of injected.splice(0)) toClient(r);
    },
  );

  // Writes made while one chunk is parsed go out together (one writev, fewer TLS records).
  const guard = (framer: Framer, side: string, out: Duplex) => (chunk: Buffer) => {
    out.cork();
    try {
      framer.push(chunk);
    } catch (e) {
      fail(`${side}: ${(e as Error).message}`);
    } finally {
      out.uncork();
    }
  };

  return new Promise((resolve) => {
    let open = 2;
    const done = () => {
      if (--open === 0) resolve();
    };
    const onRequestData = guard(requests, 'client', backend);
    const onReplyData = guard(replies, 'backend', client);
    client.on('data', onRequestData);
    backend.on('data', onReplyData);
    client.on('end', () => backend.end());
    backend.on('end', () => client.end());
    client.on('error', () => backend.destroy());
    backend.on('error', () => client.destroy());
    client.once('close', () => {
      closed = true;
      backend.destroy();
      done();
    });
    backend.once('close', () => {
      client.destroy();
      done();
    });
    if (opts.backendRest?.length) onReplyData(opts.backendRest);
    if (opts.clientRest?.length) onRequestData(opts.clientRest);
    client.resume();
    backend.resume();
  });
}
