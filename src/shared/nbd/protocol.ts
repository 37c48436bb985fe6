// The NBD wire protocol (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md) as
// pure encoders and decoders: numbers, the fixed-newstyle handshake's option requests and replies,
// transmission requests, simple and structured reply headers. No I/O here (client.ts drives it).

export const NBDMAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1;
export const FLAG_NO_ZEROES = 2;

export const OPT = {
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

export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
} as const;

/** Option reply errors have bit 31 set. */
export const REP_ERR_BIT = 0x80000000;
export const REP_ERRORS: Readonly<Record<number, string>> = {
  [REP_ERR_BIT + 1]: 'NBD_REP_ERR_UNSUP',
  [REP_ERR_BIT + 2]: 'NBD_REP_ERR_POLICY',
  [REP_ERR_BIT + 3]: 'NBD_REP_ERR_INVALID',
  [REP_ERR_BIT + 4]: 'NBD_REP_ERR_PLATFORM',
  [REP_ERR_BIT + 5]: 'NBD_REP_ERR_TLS_REQD',
  [REP_ERR_BIT + 6]: 'NBD_REP_ERR_UNKNOWN',
  [REP_ERR_BIT + 7]: 'NBD_REP_ERR_SHUTDOWN',
  [REP_ERR_BIT + 8]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
  [REP_ERR_BIT + 9]: 'NBD_REP_ERR_TOO_BIG',
};
export const REP_ERR_UNSUP = REP_ERR_BIT + 1;

export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

/** Transmission flags (NBD_FLAG_*) the server sends with the export. */
export const TX = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

export const CMD_FLAG = { FUA: 1, NO_HOLE: 2, DF: 4, REQ_ONE: 8, FAST_ZERO: 16 } as const;

export const REPLY_FLAG_DONE = 1;
export const REPLY_TYPE = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: (1 << 15) + 1,
  ERROR_OFFSET: (1 << 15) + 2,
} as const;
export const REPLY_TYPE_ERROR_BIT = 1 << 15;

/** base:allocation status flags. */
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
/** qemu:dirty-bitmap:<name> status flag. */
export const STATE_DIRTY = 1;

export const BASE_ALLOCATION = 'base:allocation';
export const dirtyBitmapContext = (bitmap: string) => `qemu:dirty-bitmap:${bitmap}`;

/** NBD error numbers (the wire values are Linux errno values). */
export const ERRNO: Readonly<Record<number, string>> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};
export const errnoName = (n: number) => ERRNO[n] ?? `errno ${n}`;

/** The peer broke the protocol (bad magic, unknown handle, short or oversized data…). */
export class NbdProtocolError extends Error {}

/** The server refused an option or answered a command with an error. */
export class NbdError extends Error {
  constructor(
    /** `NBD_REP_ERR_*` for options, an errno name (EIO, EINVAL…) for commands. */
    readonly code: string,
    message: string,
  ) {
    super(message ? `${code}: ${message}` : code);
  }
}

/** The connection ended before the reply came. */
export class NbdClosedError extends Error {}

// ---- handshake ----

/** The client's option request: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(16 + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, 16);
  return b;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const lenString = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(b.length), b]);
};

/** NBD_OPT_GO / NBD_OPT_INFO data: export name and the info items wanted. */
export function encodeGo(exportName: string, infos: readonly number[]): Buffer {
  return Buffer.concat([lenString(exportName), u16(infos.length), ...infos.map(u16)]);
}

/** NBD_OPT_SET_META_CONTEXT / LIST_META_CONTEXT data: export name and queries. */
export function encodeMetaContext(exportName: string, queries: readonly string[]): Buffer {
  return Buffer.concat([lenString(exportName), u32(queries.length), ...queries.map(lenString)]);
}

export interface OptionReplyHeader {
  option: number;
  type: number;
  length: number;
}

/** The 20-byte option reply header. */
export function decodeOptionReplyHeader(b: Buffer): OptionReplyHeader {
  if (b.length !== 20) throw new NbdProtocolError(`option reply header of ${b.length} bytes`);
  if (b.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC)
    throw new NbdProtocolError(`bad option reply magic 0x${b.readBigUInt64BE(0).toString(16)}`);
  return { option: b.readUInt32BE(8), type: b.readUInt32BE(12), length: b.readUInt32BE(16) };
}

export interface ExportInfo {
  size: number;
  flags: number;
  /** Block size constraints, when the server sent them (NBD_INFO_BLOCK_SIZE). */
  minBlock?: number;
  preferredBlock?: number;
  maxBlock?: number;
}

/** Folds one NBD_REP_INFO payload into `info` (unknown items are ignored, as the spec says). */
export function applyInfo(info: Partial<ExportInfo>, data: Buffer): void {
  if (data.length < 2) throw new NbdProtocolError('NBD_REP_INFO shorter than its type');
  const type = data.readUInt16BE(0);
  if (type === INFO.EXPORT) {
    if (data.length !== 12) throw new NbdProtocolError(`NBD_INFO_EXPORT of ${data.length} bytes`);
    const size = data.readBigUInt64BE(2);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new NbdProtocolError(`export size ${size} too large`);
    info.size = Number(size);
    info.flags = data.readUInt16BE(10);
  } else if (type === INFO.BLOCK_SIZE) {
    if (data.length !== 14) throw new NbdProtocolError(`NBD_INFO_BLOCK_SIZE of ${data.length} bytes`);
    info.minBlock = data.readUInt32BE(2);
    info.preferredBlock = data.readUInt32BE(6);
    info.maxBlock = data.readUInt32BE(10);
  }
}

/** NBD_REP_META_CONTEXT payload: the context's id and name. */
export function decodeMetaContext(data: Buffer): { id: number; name: string } {
  if (data.length < 4) throw new NbdProtocolError('NBD_REP_META_CONTEXT shorter than its id');
  return { id: data.readUInt32BE(0), name: data.subarray(4).toString('utf8') };
}

// ---- transmission ----

export const REQUEST_HEADER = 28;
export const SIMPLE_REPLY_HEADER = 16;
export const STRUCTURED_REPLY_HEADER = 20;

export interface Request {
  flags: number;
  type: number;
  handle: bigint;
  offset: number;
  length: number;
}

export function encodeRequest(r: Request): Buffer {
  const b = Buffer.allocUnsafe(REQUEST_HEADER);
  b.writeUInt32BE(REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags, 4);
  b.writeUInt16BE(r.type, 6);
  b.writeBigUInt64BE(r.handle, 8);
  b.writeBigUInt64BE(BigInt(r.offset), 16);
  b.writeUInt32BE(r.length, 24);
  return b;
}

export interface SimpleReply {
  error: number;
  handle: bigint;
}

export function decodeSimpleReply(b: Buffer): SimpleReply {
  return { error: b.readUInt32BE(4), handle: b.readBigUInt64BE(8) };
}

export interface ChunkHeader {
  flags: number;
  type: number;
  handle: bigint;
  length: number;
}

export function decodeChunkHeader(b: Buffer): ChunkHeader {
  return {
    flags: b.readUInt16BE(4),
    type: b.readUInt16BE(6),
    handle: b.readBigUInt64BE(8),
    length: b.readUInt32BE(16),
  };
}

/** An error chunk's payload: errno, message, and (ERROR_OFFSET) the offset. */
export function decodeErrorChunk(
  type: number,
  p: Buffer,
): { error: number; message: string; offset?: number } {
  if (p.length < 6) throw new NbdProtocolError('error chunk shorter than 6 bytes');
  const error = p.readUInt32BE(0);
  const len = p.readUInt16BE(4);
  const tail = type === REPLY_TYPE.ERROR_OFFSET ? 8 : 0;
  if (6 + len + tail !== p.length)
    throw new NbdProtocolError('error chunk length does not match its message');
  const message = p.subarray(6, 6 + len).toString('utf8');
  return tail ? { error, message, offset: Number(p.readBigUInt64BE(6 + len)) } : { error, message };
}

export interface Extent {
  length: number;
  flags: number;
}

/** A NBD_REPLY_TYPE_BLOCK_STATUS payload: context id and its descriptors. */
export function decodeBlockStatus(p: Buffer): { contextId: number; extents: Extent[] } {
  if (p.length < 12 || (p.length - 4) % 8 !== 0)
    throw new NbdProtocolError(`block status payload of ${p.length} bytes`);
  const extents: Extent[] = [];
  for (let o = 4; o < p.length; o += 8) {
    const length = p.readUInt32BE(o);
    if (length === 0) throw new NbdProtocolError('block status extent of length 0');
    extents.push({ length, flags: p.readUInt32BE(o + 4) });
  }
  return { contextId: p.readUInt32BE(0), extents };
}
