// NBD wire constants and pure encoders/decoders for the fixed-newstyle handshake and the
// transmission-phase headers the export server needs (https://github.com/NetworkBlockDevice/nbd
// doc/proto.md). Byte-exact, so hand-written; no I/O here.

export const NBDMAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const OPT_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1;
export const FLAG_NO_ZEROES = 2;

export const Opt = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

const ERR = 2 ** 31;
export const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_PLATFORM: ERR + 4,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_BLOCK_SIZE_REQD: ERR + 8,
  ERR_TOO_BIG: ERR + 9,
} as const;

export const Info = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags. */
export const TF = {
  HAS_FLAGS: 1,
  READ_ONLY: 2,
  SEND_FLUSH: 4,
  SEND_FUA: 8,
  ROTATIONAL: 16,
  SEND_TRIM: 32,
  SEND_WRITE_ZEROES: 64,
  SEND_DF: 128,
  CAN_MULTI_CONN: 256,
  SEND_RESIZE: 512,
  SEND_CACHE: 1024,
  SEND_FAST_ZERO: 2048,
} as const;

/** Flags that only make sense on a writable export: never advertised on a read-only one. */
export const WRITE_FLAGS =
  TF.SEND_FUA | TF.SEND_TRIM | TF.SEND_WRITE_ZEROES | TF.SEND_RESIZE | TF.SEND_FAST_ZERO;

export const Cmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
  RESIZE: 8,
} as const;

/** Commands that change the disk: refused with EPERM on a read-only export. */
export const WRITE_COMMANDS: ReadonlySet<number> = new Set([
  Cmd.WRITE,
  Cmd.TRIM,
  Cmd.WRITE_ZEROES,
  Cmd.RESIZE,
]);

export const Errno = { EPERM: 1, EIO: 5, EINVAL: 22, ENOTSUP: 95, ESHUTDOWN: 108 } as const;

export const ReplyType = { NONE: 0, OFFSET_DATA: 1, OFFSET_HOLE: 2, BLOCK_STATUS: 5, ERROR: 32769 } as const;
export const REPLY_FLAG_DONE = 1;

export const BASE_ALLOCATION = 'base:allocation';

/** Sizes of fixed headers. */
export const OPT_HEADER = 16;
export const REQUEST_HEADER = 28;
export const SIMPLE_REPLY_HEADER = 16;
export const STRUCTURED_REPLY_HEADER = 20;

/** The server's first 18 bytes: magic, IHAVEOPT, handshake flags. */
export function greeting(): Buffer {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
  return b;
}

export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20);
  h.writeBigUInt64BE(OPT_REPLY_MAGIC, 0);
  h.writeUInt32BE(option, 8);
  h.writeUInt32BE(type, 12);
  h.writeUInt32BE(data.length, 16);
  return Buffer.concat([h, data]);
}

export function optionRequest(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(OPT_HEADER);
  h.writeBigUInt64BE(IHAVEOPT, 0);
  h.writeUInt32BE(option, 8);
  h.writeUInt32BE(data.length, 12);
  return Buffer.concat([h, data]);
}

/** An error reply whose text says why (clients such as nbdinfo print it). */
export function errorReply(option: number, type: number, message: string): Buffer {
  return optionReply(option, type, Buffer.from(message.slice(0, 1024), 'utf8'));
}

export function infoExport(size: bigint, flags: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(Info.EXPORT, 0);
  b.writeBigUInt64BE(size, 2);
  b.writeUInt16BE(flags, 10);
  return b;
}

export function infoBlockSize(min: number, preferred: number, max: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(Info.BLOCK_SIZE, 0);
  b.writeUInt32BE(min, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(max, 10);
  return b;
}

export function infoName(name: string): Buffer {
  return Buffer.concat([Buffer.from([0, Info.NAME]), Buffer.from(name, 'utf8')]);
}

export function metaContextReply(id: number, name: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(id, 0);
  return Buffer.concat([b, Buffer.from(name, 'utf8')]);
}

/** NBD_OPT_EXPORT_NAME's reply: size, flags and (unless NO_ZEROES) 124 zero bytes. */
export function exportNameReply(size: bigint, flags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(size, 0);
  b.writeUInt16BE(flags, 8);
  return b;
}

export class ProtocolError extends Error {}

/** Reads `[u32 len][bytes]` at `off`; throws ProtocolError when it runs past the end. */
function lengthPrefixed(data: Buffer, off: number): [string, number] {
  if (off + 4 > data.length) throw new ProtocolError('option data truncated');
  const len = data.readUInt32BE(off);
  if (off + 4 + len > data.length) throw new ProtocolError('option data truncated');
  return [data.toString('utf8', off + 4, off + 4 + len), off + 4 + len];
}

/** NBD_OPT_INFO / NBD_OPT_GO data: export name and the information types requested. */
export function parseInfoRequest(data: Buffer): { name: string; requests: number[] } {
  const [name, off] = lengthPrefixed(data, 0);
  if (off + 2 > data.length) throw new ProtocolError('option data truncated');
  const n = data.readUInt16BE(off);
  if (off + 2 + 2 * n !== data.length)
    throw new ProtocolError('information request count does not match length');
  const requests: number[] = [];
  for (let i = 0; i < n; i++) requests.push(data.readUInt16BE(off + 2 + 2 * i));
  return { name, requests };
}

export function infoRequest(name: string, requests: number[]): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(4 + n.length + 2 + 2 * requests.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(requests.length, 4 + n.length);
  for (const [i, r] of requests.entries()) b.writeUInt16BE(r, 6 + n.length + 2 * i);
  return b;
}

/** NBD_OPT_{LIST,SET}_META_CONTEXT data: export name and queries. */
export function parseMetaContextRequest(data: Buffer): { name: string; queries: string[] } {
  const [name, off0] = lengthPrefixed(data, 0);
  if (off0 + 4 > data.length) throw new ProtocolError('option data truncated');
  const n = data.readUInt32BE(off0);
  let off = off0 + 4;
  const queries: string[] = [];
  for (let i = 0; i < n; i++) {
    const [q, next] = lengthPrefixed(data, off);
    queries.push(q);
    off = next;
  }
  if (off !== data.length) throw new ProtocolError('trailing bytes after the queries');
  return { name, queries };
}

export function metaContextRequest(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v, 0);
    return b;
  };
  const n = Buffer.from(name, 'utf8');
  parts.push(u32(n.length), n, u32(queries.length));
  for (const q of queries) {
    const qb = Buffer.from(q, 'utf8');
    parts.push(u32(qb.length), qb);
  }
  return Buffer.concat(parts);
}

/** Whether a meta-context query selects `base:allocation` (the one namespace served). */
export function selectsBaseAllocation(query: string): boolean {
  return query === BASE_ALLOCATION || query === 'base:';
}

/** A simple reply header (error 0 for success). */
export function simpleReply(handle: Buffer, error: number): Buffer {
  const b = Buffer.alloc(SIMPLE_REPLY_HEADER);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  handle.copy(b, 8);
  return b;
}

/** A final structured error chunk carrying `message`. */
export function structuredError(handle: Buffer, error: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const b = Buffer.alloc(STRUCTURED_REPLY_HEADER + 6 + msg.length);
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(REPLY_FLAG_DONE, 4);
  b.writeUInt16BE(ReplyType.ERROR, 6);
  handle.copy(b, 8);
  b.writeUInt32BE(6 + msg.length, 16);
  b.writeUInt32BE(error, 20);
  b.writeUInt16BE(msg.length, 24);
  msg.copy(b, 26);
  return b;
}
