// The export server's own client handshake with the backend NBD server that holds the disk (the
// agent's qemu-storage-daemon on a private Unix socket): fixed newstyle, structured replies and
// base:allocation when the client asked for them, then NBD_OPT_GO. The socket is then handed to
// the relay (relay.ts) for the transmission phase.
import net from 'node:net';
import {
  BASE_ALLOCATION,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  Info,
  infoRequest,
  metaContextRequest,
  NBDMAGIC,
  Opt,
  OPT_REPLY_MAGIC,
  optionRequest,
  ProtocolError,
  Rep,
} from './protocol.js';
import { ByteReader } from './reader.js';

/** What `openBackend` hands the export server for a VDI. */
export interface Backend {
  /** Unix socket of an NBD server exporting the VDI (fixed newstyle, no TLS). */
  socketPath: string;
  exportName: string;
  /** Stops serving (called once the client's connection ends, or the handshake failed). */
  close(): Promise<void> | void;
}

export interface BackendWants {
  structured: boolean;
  /** Ask for base:allocation (only with structured replies). */
  allocation: boolean;
}

export interface BackendSession {
  socket: net.Socket;
  /** Bytes received after the handshake (start of the transmission phase; normally none). */
  rest: Buffer;
  size: bigint;
  flags: number;
  blockSize?: { min: number; preferred: number; max: number };
  /** The backend's id for base:allocation, when selected. */
  allocationId?: number;
}

/** Longest option reply the backend may send (its replies are small). */
const MAX_BACKEND_REPLY = 64 * 1024;

function connectUnix(path: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path);
    const timer = setTimeout(() => s.destroy(new Error(`backend ${path}: connect timed out`)), timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

interface OptReply {
  type: number;
  data: Buffer;
}

async function readReply(r: ByteReader, option: number): Promise<OptReply> {
  const h = await r.read(20);
  if (h.readBigUInt64BE(0) !== OPT_REPLY_MAGIC) throw new ProtocolError('backend: bad option reply magic');
  if (h.readUInt32BE(8) !== option) throw new ProtocolError('backend: reply to another option');
  const len = h.readUInt32BE(16);
  if (len > MAX_BACKEND_REPLY) throw new ProtocolError('backend: option reply too long');
  return { type: h.readUInt32BE(12), data: len ? await r.read(len) : Buffer.alloc(0) };
}

function failed(what: string, rep: OptReply): Error {
  return new Error(`backend refused ${what} (reply ${rep.type - 2 ** 31}): ${rep.data.toString('utf8')}`);
}

/** Connects to the backend and negotiates up to the transmission phase. */
export async function negotiateBackend(
  backend: Pick<Backend, 'socketPath' | 'exportName'>,
  wants: BackendWants,
  timeoutMs = 10_000,
): Promise<BackendSession> {
  const socket = await connectUnix(backend.socketPath, timeoutMs);
  const timer = setTimeout(() => socket.destroy(new Error('backend handshake timed out')), timeoutMs);
  const r = new ByteReader(socket);
  try {
    const g = await r.read(18);
    if (g.readBigUInt64BE(0) !== NBDMAGIC || g.readBigUInt64BE(8) !== IHAVEOPT)
      throw new ProtocolError('backend is not a newstyle NBD server');
    const hflags = g.readUInt16BE(16);
    if (!(hflags & FLAG_FIXED_NEWSTYLE)) throw new ProtocolError('backend is not fixed newstyle');
    const cflags = Buffer.alloc(4);
    cflags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (hflags & FLAG_NO_ZEROES), 0);
    socket.write(cflags);
    let allocationId: number | undefined;
    if (wants.structured) {
      socket.write(optionRequest(Opt.STRUCTURED_REPLY));
      const rep = await readReply(r, Opt.STRUCTURED_REPLY);
      if (rep.type !== Rep.ACK) throw failed('structured replies', rep);
      if (wants.allocation) {
        socket.write(
          optionRequest(Opt.SET_META_CONTEXT, metaContextRequest(backend.exportName, [BASE_ALLOCATION])),
        );
        for (;;) {
          const m = await readReply(r, Opt.SET_META_CONTEXT);
          if (m.type === Rep.ACK) break;
          if (m.type !== Rep.META_CONTEXT) throw failed('base:allocation', m);
          if (m.data.length >= 4 && m.data.toString('utf8', 4) === BASE_ALLOCATION)
            allocationId = m.data.readUInt32BE(0);
        }
      }
    }
    socket.write(optionRequest(Opt.GO, infoRequest(backend.exportName, [Info.BLOCK_SIZE])));
    let size: bigint | undefined;
    let flags = 0;
    let blockSize: BackendSession['blockSize'];
    for (;;) {
      const rep = await readReply(r, Opt.GO);
      if (rep.type === Rep.ACK) break;
      if (rep.type !== Rep.INFO) throw failed(`export ${backend.exportName}`, rep);
      if (rep.data.length < 2) continue;
      const t = rep.data.readUInt16BE(0);
      if (t === Info.EXPORT && rep.data.length >= 12) {
        size = rep.data.readBigUInt64BE(2);
        flags = rep.data.readUInt16BE(10);
      } else if (t === Info.BLOCK_SIZE && rep.data.length >= 14)
        blockSize = {
          min: rep.data.readUInt32BE(2),
          preferred: rep.data.readUInt32BE(6),
          max: rep.data.readUInt32BE(10),
        };
    }
    if (size === undefined) throw new ProtocolError('backend sent no export size');
    clearTimeout(timer);
    const rest = r.detach();
    socket.pause();
    return { socket, rest, size, flags, blockSize, allocationId };
  } catch (e) {
    clearTimeout(timer);
    r.detach();
    socket.destroy();
    throw e;
  }
}
