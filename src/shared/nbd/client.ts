// An NBD client over one connected stream socket (Unix or TCP; TLS after NBD_OPT_STARTTLS):
// the fixed-newstyle handshake (structured replies, meta contexts, NBD_OPT_GO), then commands with
// several requests in flight, matched to replies by handle. Any protocol violation or early end
// fails every pending request and closes the socket; a server's error for one command rejects
// only that command (NbdError with the errno name).
import type { Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { Inbox } from './inbox.js';
import {
  applyInfo,
  CMD,
  CMD_FLAG,
  decodeBlockStatus,
  decodeChunkHeader,
  decodeErrorChunk,
  decodeMetaContext,
  decodeOptionReplyHeader,
  decodeSimpleReply,
  encodeGo,
  encodeMetaContext,
  encodeOption,
  encodeRequest,
  type ExportInfo,
  type Extent,
  errnoName,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  NbdClosedError,
  NbdError,
  NbdProtocolError,
  OPT,
  REP,
  REP_ERR_BIT,
  REP_ERR_UNSUP,
  REP_ERRORS,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REPLY_TYPE_ERROR_BIT,
  SIMPLE_REPLY_HEADER,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_HEADER,
  STRUCTURED_REPLY_MAGIC,
  TX,
} from './protocol.js';

export interface HandshakeOptions {
  /** The export to open ('' is the server's default export). */
  exportName?: string;
  /** Meta contexts to select (base:allocation, qemu:dirty-bitmap:<name>…); needs structured replies. */
  metaContexts?: readonly string[];
  /** Ask for structured replies (default true: needed for block status and sparse reads). */
  structuredReplies?: boolean;
  /** Upgrade to TLS with NBD_OPT_STARTTLS first, with these node:tls options. */
  tls?: ConnectionOptions;
}

/** Largest option reply payload accepted during the handshake. */
const MAX_OPTION_REPLY = 64 * 1024;
/** Largest non-data reply chunk accepted (block status of a large range, error messages). */
const MAX_CHUNK = 16 * 1024 * 1024;
/** Request length cap when the server states none (the spec's recommended maximum). */
const DEFAULT_MAX_BLOCK = 32 * 1024 * 1024;

interface Pending {
  type: number;
  offset: number;
  length: number;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** READ: where the data goes, chunk by chunk as it arrives (holes zero-filled). */
  target?: Buffer;
  covered: number;
  /** BLOCK_STATUS: descriptors per context id. */
  status?: Map<number, Extent[]>;
  error?: NbdError;
}

type Parsing =
  /** A READ's data (simple reply, or a data chunk after its offset): `left` bytes to `at`. */
  | { kind: 'data'; handle: bigint; pending: Pending; at: number; left: number; done: boolean }
  | { kind: 'chunk'; handle: bigint; flags: number; type: number; length: number; pending: Pending };

/** Reads exact byte counts from a socket during the handshake. */
class HandshakeReader {
  readonly inbox = new Inbox();
  private waiter?: () => void;
  private ended?: Error;
  private readonly onData = (b: Buffer) => {
    this.inbox.push(b);
    this.inbox.own();
    this.waiter?.();
  };
  private readonly onEnd = () => this.stop(new NbdClosedError('connection closed during the NBD handshake'));
  private readonly onError = (e: Error) => this.stop(e);

  constructor(readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  private stop(e: Error) {
    this.ended ??= e;
    this.waiter?.();
  }

  async read(n: number): Promise<Buffer> {
    for (;;) {
      const b = this.inbox.take(n);
      if (b) return b;
      if (this.ended) throw this.ended;
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = undefined;
    }
  }

  /** Stops listening (the socket passes to the transmission phase or to TLS). */
  detach() {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
  }
}

async function optionReply(r: HandshakeReader, option: number) {
  const h = decodeOptionReplyHeader(await r.read(20));
  if (h.option !== option)
    throw new NbdProtocolError(`reply to option ${h.option} while waiting for option ${option}`);
  if (h.length > MAX_OPTION_REPLY) throw new NbdProtocolError(`option reply of ${h.length} bytes`);
  return { type: h.type, data: await r.read(h.length) };
}

function optionError(option: string, type: number, data: Buffer): NbdError {
  const code = REP_ERRORS[type] ?? `NBD_REP_ERR_${type - REP_ERR_BIT}`;
  return new NbdError(code, `${option}: ${data.toString('utf8') || 'refused'}`);
}

async function startTls(r: HandshakeReader, opts: ConnectionOptions): Promise<Socket> {
  r.socket.write(encodeOption(OPT.STARTTLS));
  const rep = await optionReply(r, OPT.STARTTLS);
  if (rep.type !== REP.ACK) throw optionError('NBD_OPT_STARTTLS', rep.type, rep.data);
  if (r.inbox.length) throw new NbdProtocolError('plain bytes after the NBD_OPT_STARTTLS reply');
  r.detach();
  const tls = tlsConnect({ ...opts, socket: r.socket });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
  });
  return tls;
}

/** The handshake on a connected socket; resolves with a client in the transmission phase. */
export async function handshake(socket: Socket, opts: HandshakeOptions = {}): Promise<NbdClient> {
  let r = new HandshakeReader(socket);
  try {
    const hello = await r.read(18);
    if (hello.readBigUInt64BE(0) !== NBDMAGIC) throw new NbdProtocolError('no NBDMAGIC: not an NBD server');
    if (hello.readBigUInt64BE(8) !== IHAVEOPT)
      throw new NbdProtocolError('oldstyle NBD negotiation is not supported');
    const serverFlags = hello.readUInt16BE(16);
    if (!(serverFlags & FLAG_FIXED_NEWSTYLE)) throw new NbdProtocolError('server lacks fixed newstyle');
    const noZeroes = (serverFlags & FLAG_NO_ZEROES) !== 0;
    const clientFlags = Buffer.alloc(4);
    clientFlags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0));
    socket.write(clientFlags);

    if (opts.tls) {
      socket = await startTls(r, opts.tls);
      r = new HandshakeReader(socket);
    }

    const exportName = opts.exportName ?? '';
    let structured = false;
    if (opts.structuredReplies !== false) {
      socket.write(encodeOption(OPT.STRUCTURED_REPLY));
      const rep = await optionReply(r, OPT.STRUCTURED_REPLY);
      if (rep.type === REP.ACK) structured = true;
      else if (rep.type !== REP_ERR_UNSUP) throw optionError('NBD_OPT_STRUCTURED_REPLY', rep.type, rep.data);
    }

    const contexts = new Map<string, number>();
    const wanted = opts.metaContexts ?? [];
    if (wanted.length) {
      if (!structured) throw new NbdError('NBD_REP_ERR_UNSUP', 'meta contexts need structured replies');
      socket.write(encodeOption(OPT.SET_META_CONTEXT, encodeMetaContext(exportName, wanted)));
      for (;;) {
        const rep = await optionReply(r, OPT.SET_META_CONTEXT);
        if (rep.type === REP.ACK) break;
        if (rep.type !== REP.META_CONTEXT) throw optionError('NBD_OPT_SET_META_CONTEXT', rep.type, rep.data);
        const c = decodeMetaContext(rep.data);
        if (!wanted.includes(c.name)) throw new NbdProtocolError(`meta context ${c.name} was not asked for`);
        contexts.set(c.name, c.id);
      }
      const missing = wanted.filter((w) => !contexts.has(w));
      if (missing.length)
        throw new NbdError('NBD_REP_ERR_UNKNOWN', `meta context ${missing.join(', ')} not offered`);
    }

    socket.write(encodeOption(OPT.GO, encodeGo(exportName, [INFO.BLOCK_SIZE])));
    const info: Partial<ExportInfo> = {};
    for (;;) {
      const rep = await optionReply(r, OPT.GO);
      if (rep.type === REP.ACK) break;
      if (rep.type !== REP.INFO)
        throw optionError(`NBD_OPT_GO ${JSON.stringify(exportName)}`, rep.type, rep.data);
      applyInfo(info, rep.data);
    }
    if (info.size === undefined || info.flags === undefined)
      throw new NbdProtocolError('NBD_OPT_GO acknowledged without NBD_INFO_EXPORT');
    r.detach();
    return new NbdClient(socket, info as ExportInfo, structured, contexts, r.inbox);
  } catch (e) {
    r.detach();
    socket.destroy();
    throw e;
  }
}

export interface ReadOptions {
  /** NBD_CMD_FLAG_DF: one data chunk, no holes. */
  noFragment?: boolean;
}

/** A client in the transmission phase (made by `handshake`). */
export class NbdClient {
  private readonly pending = new Map<bigint, Pending>();
  /** The reply promises of requests in flight (disconnect waits for them). */
  private readonly replies = new Set<Promise<unknown>>();
  private nextHandle = 1n;
  private parsing?: Parsing;
  private failure?: Error;
  private closing = false;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    readonly info: ExportInfo,
    /** Structured replies were negotiated. */
    readonly structured: boolean,
    /** Selected meta contexts: name → id. */
    readonly contexts: ReadonlyMap<string, number>,
    private readonly inbox: Inbox,
  ) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (b: Buffer) => {
      this.inbox.push(b);
      this.parse();
      this.inbox.own(); // `b` may be a view of a reused read buffer (connect.ts)
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () =>
      this.fail(
        this.closing
          ? new NbdClosedError('NBD connection closed')
          : new NbdClosedError('NBD server closed the connection'),
      ),
    );
    if (this.inbox.length) this.parse();
  }

  get size(): number {
    return this.info.size;
  }
  get readOnly(): boolean {
    return (this.info.flags & TX.READ_ONLY) !== 0;
  }
  get canFlush(): boolean {
    return (this.info.flags & TX.SEND_FLUSH) !== 0;
  }
  get canWriteZeroes(): boolean {
    return (this.info.flags & TX.SEND_WRITE_ZEROES) !== 0;
  }
  get canFua(): boolean {
    return (this.info.flags & TX.SEND_FUA) !== 0;
  }
  /** Largest request payload (READ/WRITE length) the server accepts. */
  get maxBlock(): number {
    return Math.min(this.info.maxBlock || DEFAULT_MAX_BLOCK, DEFAULT_MAX_BLOCK);
  }
  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  async read(offset: number, length: number, opts: ReadOptions = {}): Promise<Buffer> {
    this.checkRange(offset, length, this.maxBlock); // before allocating
    return this.readInto(offset, Buffer.allocUnsafe(length), opts);
  }

  /** READ into `target` (its whole length, from `offset`); resolves with `target`. */
  async readInto(offset: number, target: Buffer, opts: ReadOptions = {}): Promise<Buffer> {
    this.checkRange(offset, target.length, this.maxBlock);
    if (target.length === 0) return target;
    await this.request(CMD.READ, opts.noFragment ? CMD_FLAG.DF : 0, offset, target.length, undefined, target);
    return target;
  }

  async write(offset: number, data: Buffer, opts: { fua?: boolean } = {}): Promise<void> {
    this.checkRange(offset, data.length, this.maxBlock);
    this.checkWritable();
    if (data.length === 0) return;
    await this.request(CMD.WRITE, opts.fua && this.canFua ? CMD_FLAG.FUA : 0, offset, data.length, data);
  }

  /** NBD_CMD_WRITE_ZEROES (ENOTSUP when the server does not offer it: write zeroes instead). */
  async writeZeroes(
    offset: number,
    length: number,
    opts: { noHole?: boolean; fua?: boolean } = {},
  ): Promise<void> {
    this.checkRange(offset, length, 0xffffffff);
    this.checkWritable();
    if (!this.canWriteZeroes) throw new NbdError('ENOTSUP', 'the server does not offer NBD_CMD_WRITE_ZEROES');
    if (length === 0) return;
    const flags = (opts.noHole ? CMD_FLAG.NO_HOLE : 0) | (opts.fua && this.canFua ? CMD_FLAG.FUA : 0);
    await this.request(CMD.WRITE_ZEROES, flags, offset, length);
  }

  async flush(): Promise<void> {
    if (!this.canFlush) return; // nothing to flush: the server writes through
    await this.request(CMD.FLUSH, 0, 0, 0);
  }

  /**
   * NBD_CMD_BLOCK_STATUS for one selected meta context over [offset, offset+length): the
   * descriptors the server sent, starting at `offset` (they may cover less than asked).
   */
  async blockStatus(
    context: string,
    offset: number,
    length: number,
    opts: { reqOne?: boolean } = {},
  ): Promise<Extent[]> {
    const id = this.contexts.get(context);
    if (id === undefined) throw new NbdError('EINVAL', `meta context ${context} was not selected`);
    this.checkRange(offset, length, 0xffffffff);
    if (length === 0) return [];
    const status = (await this.request(
      CMD.BLOCK_STATUS,
      opts.reqOne ? CMD_FLAG.REQ_ONE : 0,
      offset,
      length,
    )) as Map<number, Extent[]>;
    const extents = status.get(id);
    if (!extents) throw new NbdProtocolError(`block status reply without context ${context}`);
    return extents;
  }

  /** NBD_CMD_DISC after the replies in flight, then closes. */
  async disconnect(): Promise<void> {
    await Promise.allSettled(this.replies);
    if (this.failure) return;
    this.closing = true;
    this.socket.write(
      encodeRequest({ flags: 0, type: CMD.DISC, handle: this.nextHandle++, offset: 0, length: 0 }),
    );
    this.socket.end();
    await this.closed;
  }

  /** Closes at once: pending requests fail. */
  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private checkRange(offset: number, length: number, max: number) {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0)
      throw new NbdError('EINVAL', `bad range ${offset}+${length}`);
    if (length > max) throw new NbdError('EINVAL', `request of ${length} bytes exceeds ${max}`);
    if (offset + length > this.info.size)
      throw new NbdError('EINVAL', `range ${offset}+${length} beyond the export's ${this.info.size} bytes`);
  }

  private checkWritable() {
    if (this.readOnly) throw new NbdError('EPERM', 'the export is read-only');
  }

  private request(
    type: number,
    flags: number,
    offset: number,
    length: number,
    data?: Buffer,
    target?: Buffer,
  ): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const handle = this.nextHandle++;
    const reply = new Promise((resolve, reject) => {
      this.pending.set(handle, { type, offset, length, resolve, reject, covered: 0, target });
      const header = encodeRequest({ flags, type, handle, offset, length });
      if (data) {
        this.socket.cork();
        this.socket.write(header);
        this.socket.write(data);
        this.socket.uncork();
      } else this.socket.write(header);
    });
    this.replies.add(reply);
    const forget = () => this.replies.delete(reply);
    reply.then(forget, forget);
    return reply;
  }

  private fail(e: Error) {
    if (this.failure) return;
    this.failure = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.socket.destroy();
  }

  private parse() {
    try {
      while (!this.failure && this.step());
    } catch (e) {
      this.fail(e instanceof Error ? e : new Error(String(e)));
    }
  }

  private pendingFor(handle: bigint): Pending {
    const p = this.pending.get(handle);
    if (!p) throw new NbdProtocolError(`reply for unknown handle ${handle}`);
    return p;
  }

  /** Parses one header or payload; false when more bytes are needed. */
  private step(): boolean {
    const cur = this.parsing;
    if (!cur) {
      const magic = this.inbox.peekUInt32();
      if (magic === undefined) return false;
      if (magic === SIMPLE_REPLY_MAGIC) {
        const h = this.inbox.take(SIMPLE_REPLY_HEADER);
        if (!h) return false;
        const { error, handle } = decodeSimpleReply(h);
        const p = this.pendingFor(handle);
        if (error) {
          this.pending.delete(handle);
          p.reject(new NbdError(errnoName(error), `command ${p.type} at ${p.offset}+${p.length}`));
          // Whether data follows a failed simple READ is not knowable: the stream is lost.
          if (p.type === CMD.READ) throw new NbdProtocolError('simple error reply to a READ');
        } else if (p.type === CMD.READ) {
          if (this.structured) throw new NbdProtocolError('simple reply to a READ after structured replies');
          this.targetOf(p);
          p.covered = p.length;
          this.parsing = { kind: 'data', handle, pending: p, at: 0, left: p.length, done: true };
        } else {
          if (p.type === CMD.BLOCK_STATUS) throw new NbdProtocolError('simple reply to BLOCK_STATUS');
          this.pending.delete(handle);
          p.resolve(undefined);
        }
        return true;
      }
      if (magic === STRUCTURED_REPLY_MAGIC) {
        if (!this.structured) throw new NbdProtocolError('structured reply that was not negotiated');
        const h = this.inbox.take(STRUCTURED_REPLY_HEADER);
        if (!h) return false;
        const c = decodeChunkHeader(h);
        const p = this.pendingFor(c.handle);
        const cap = c.type === REPLY_TYPE.OFFSET_DATA ? p.length + 8 : MAX_CHUNK;
        if (c.length > cap) throw new NbdProtocolError(`reply chunk of ${c.length} bytes (limit ${cap})`);
        if (c.type === REPLY_TYPE.OFFSET_DATA && c.length < 9)
          throw new NbdProtocolError(`data chunk of ${c.length} bytes`);
        this.parsing = { kind: 'chunk', ...c, pending: p };
        return true;
      }
      throw new NbdProtocolError(`bad reply magic 0x${magic.toString(16)}`);
    }
    if (cur.kind === 'data') {
      const n = this.inbox.takeInto(this.targetOf(cur.pending), cur.at, cur.left);
      cur.at += n;
      cur.left -= n;
      if (cur.left > 0) return false;
      this.parsing = undefined;
      if (cur.done) this.done(cur.handle, cur.pending);
      return true;
    }
    if (cur.type === REPLY_TYPE.OFFSET_DATA) {
      // The offset first; the data then goes straight to its place as it arrives.
      const head = this.inbox.take(8);
      if (!head) return false;
      const p = cur.pending;
      if (p.type !== CMD.READ) throw new NbdProtocolError('data chunk for another command');
      const offset = Number(head.readBigUInt64BE(0));
      const length = cur.length - 8;
      this.inRange(p, offset, length);
      p.covered += length;
      this.parsing = {
        kind: 'data',
        handle: cur.handle,
        pending: p,
        at: offset - p.offset,
        left: length,
        done: (cur.flags & REPLY_FLAG_DONE) !== 0,
      };
      return true;
    }
    const payload = this.inbox.take(cur.length);
    if (!payload) return false;
    this.parsing = undefined;
    this.chunk(cur.pending, cur.type, payload);
    if (cur.flags & REPLY_FLAG_DONE) this.done(cur.handle, cur.pending);
    return true;
  }

  private done(handle: bigint, p: Pending) {
    this.pending.delete(handle);
    try {
      this.finish(p);
    } catch (e) {
      p.reject(e as Error);
      throw e;
    }
  }

  private inRange(p: Pending, offset: number, length: number) {
    if (length <= 0 || offset < p.offset || offset + length > p.offset + p.length)
      throw new NbdProtocolError(`chunk ${offset}+${length} outside the request ${p.offset}+${p.length}`);
  }

  private chunk(p: Pending, type: number, payload: Buffer) {
    switch (type) {
      case REPLY_TYPE.NONE:
        if (payload.length) throw new NbdProtocolError('NBD_REPLY_TYPE_NONE with a payload');
        return;
      case REPLY_TYPE.OFFSET_HOLE: {
        if (p.type !== CMD.READ || payload.length !== 12) throw new NbdProtocolError('unexpected hole chunk');
        const offset = Number(payload.readBigUInt64BE(0));
        const length = payload.readUInt32BE(8);
        this.inRange(p, offset, length);
        this.targetOf(p).fill(0, offset - p.offset, offset - p.offset + length);
        p.covered += length;
        return;
      }
      case REPLY_TYPE.BLOCK_STATUS: {
        if (p.type !== CMD.BLOCK_STATUS) throw new NbdProtocolError('block status chunk for another command');
        const s = decodeBlockStatus(payload);
        p.status ??= new Map();
        if (p.status.has(s.contextId)) throw new NbdProtocolError(`context ${s.contextId} reported twice`);
        p.status.set(s.contextId, s.extents);
        return;
      }
      default: {
        if (!(type & REPLY_TYPE_ERROR_BIT)) throw new NbdProtocolError(`unknown reply chunk type ${type}`);
        const e =
          type === REPLY_TYPE.ERROR || type === REPLY_TYPE.ERROR_OFFSET
            ? decodeErrorChunk(type, payload)
            : { error: payload.length >= 4 ? payload.readUInt32BE(0) : 5, message: '' };
        if (e.error === 0) throw new NbdProtocolError('error chunk with error 0');
        p.error ??= new NbdError(
          errnoName(e.error),
          e.message || `command ${p.type} at ${e.offset ?? p.offset}+${p.length}`,
        );
      }
    }
  }

  private targetOf(p: Pending): Buffer {
    p.target ??= Buffer.allocUnsafe(p.length);
    return p.target;
  }

  private finish(p: Pending) {
    if (p.error) return p.reject(p.error);
    if (p.type === CMD.READ) {
      if (p.covered !== p.length)
        throw new NbdProtocolError(`read reply covered ${p.covered} of ${p.length} bytes`);
      return p.resolve(p.target);
    }
    if (p.type === CMD.BLOCK_STATUS) {
      if (!p.status) throw new NbdProtocolError('block status reply without descriptors');
      return p.resolve(p.status);
    }
    p.resolve(undefined);
  }
}
