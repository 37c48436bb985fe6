// The export server's side of the NBD wire: pure encoders/decoders for the fixed-newstyle
// handshake and the transmission-phase headers it needs (https://github.com/NetworkBlockDevice/nbd
// doc/proto.md). Byte-exact, so hand-written; no I/O here.

import {
  BASE_ALLOCATION,
  CMD,
  encodeGo,
  encodeMetaContext,
  encodeOption,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  REP,
  REP_ERR_BIT,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  SIMPLE_REPLY_HEADER,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_HEADER,
  STRUCTURED_REPLY_MAGIC,
  TX,
} from '../../shared/nbd/protocol.js';

// The wire numbers are the NBD client's (src/shared/nbd/protocol.ts), under the names this server
// uses; only what a server needs beyond a client is defined here.
export {
  BASE_ALLOCATION,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  NBDMAGIC,
  REPLY_FLAG_DONE,
  REQUEST_HEADER,
  REQUEST_MAGIC,
  SIMPLE_REPLY_HEADER,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_HEADER,
  STRUCTURED_REPLY_MAGIC,
} from '../../shared/nbd/protocol.js';
export const OPT_REPLY_MAGIC = OPTION_REPLY_MAGIC;
export const Opt = OPT;
export const Info = INFO;
/** Transmission flags. */
export const TF = TX;
export const ReplyType = REPLY_TYPE;

/** Option replies, errors included (bit 31). */
export const Rep = {
  ...REP,
  ERR_UNSUP: REP_ERR_BIT + 1,
  ERR_POLICY: REP_ERR_BIT + 2,
  ERR_INVALID: REP_ERR_BIT + 3,
  ERR_PLATFORM: REP_ERR_BIT + 4,
  ERR_TLS_REQD: REP_ERR_BIT + 5,
  ERR_UNKNOWN: REP_ERR_BIT + 6,
  ERR_SHUTDOWN: REP_ERR_BIT + 7,
  ERR_BLOCK_SIZE_REQD: REP_ERR_BIT + 8,
  ERR_TOO_BIG: REP_ERR_BIT + 9,
} as const;

/** Flags that only make sense on a writable export: never advertised on a read-only one. */
export const WRITE_FLAGS =
  TF.SEND_FUA | TF.SEND_TRIM | TF.SEND_WRITE_ZEROES | TF.SEND_RESIZE | TF.SEND_FAST_ZERO;

/** Commands, with NBD_CMD_RESIZE (experimental; a server must refuse it on a read-only export). */
export const Cmd = { ...CMD, RESIZE: 8 } as const;

/** Commands that change the disk: refused with EPERM on a read-only export. */
export const WRITE_COMMANDS: ReadonlySet<number> = new Set([
  Cmd.WRITE,
  Cmd.TRIM,
  Cmd.WRITE_ZEROES,
  Cmd.RESIZE,
]);

/** The errno values this server sends (Linux numbers, as on the wire). */
export const Errno = { EPERM: 1, EIO: 5, EINVAL: 22, ENOTSUP: 95, ESHUTDOWN: 108 } as const;

/** The client's option request, NBD_OPT_GO/INFO data, meta-context queries (the backend handshake). */
export { encodeGo as infoRequest, encodeMetaContext as metaContextRequest, encodeOption as optionRequest };

/** The option header's size (magic, option, length). */
export const OPT_HEADER = 16;

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
