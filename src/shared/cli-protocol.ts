// xapi's "thin CLI protocol" (version 0.2), spoken on the socket of `POST /cli` after the request
// body: a handshake, then length-prefixed messages (all integers u32 little-endian). Shared by the
// server side (src/manager/cli) and the xe client (src/clients/xe).

export const PROTOCOL_PREFIX = 'XenSource thin CLI protocol';
export const PROTOCOL_MAJOR = 0;
export const PROTOCOL_MINOR = 2;

/** Message tags (the first u32 of a payload). */
export const TAG = { command: 9, response: 10, blob: 11 } as const;
/** Sub-tags of Command, Response and Blob. */
export const SUB = {
  print: 0,
  load: 1,
  prompt: 3,
  exit: 4,
  ok: 5,
  failed: 6,
  chunk: 7,
  end: 8,
  httpGet: 12,
  httpPut: 13,
  error: 14,
  debug: 15,
  printStderr: 16,
  httpConnect: 17,
  wait: 18,
} as const;

export type Command =
  | { kind: 'print'; text: string }
  | { kind: 'printStderr'; text: string }
  | { kind: 'debug'; text: string }
  | { kind: 'load'; filename: string }
  | { kind: 'prompt' }
  | { kind: 'httpGet'; filename: string; url: string }
  | { kind: 'httpPut'; filename: string; url: string }
  | { kind: 'httpConnect'; url: string }
  | { kind: 'exit'; code: number }
  | { kind: 'error'; code: string; params: string[] };

export type Message =
  | { tag: 'command'; command: Command }
  | { tag: 'response'; response: 'ok' | 'failed' | 'wait' }
  | { tag: 'chunk'; length: number }
  | { tag: 'end' };

export function handshake(): Buffer {
  const b = Buffer.alloc(PROTOCOL_PREFIX.length + 8);
  b.write(PROTOCOL_PREFIX, 0, 'ascii');
  b.writeUInt32LE(PROTOCOL_MAJOR, PROTOCOL_PREFIX.length);
  b.writeUInt32LE(PROTOCOL_MINOR, PROTOCOL_PREFIX.length + 4);
  return b;
}

export const HANDSHAKE_LENGTH = PROTOCOL_PREFIX.length + 8;

/** Parses a peer's handshake; undefined when the prefix is wrong (not a thin CLI server). */
export function parseHandshake(b: Buffer): { major: number; minor: number } | undefined {
  if (b.length < HANDSHAKE_LENGTH || b.toString('ascii', 0, PROTOCOL_PREFIX.length) !== PROTOCOL_PREFIX)
    return undefined;
  return {
    major: b.readUInt32LE(PROTOCOL_PREFIX.length),
    minor: b.readUInt32LE(PROTOCOL_PREFIX.length + 4),
  };
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const str = (s: string) => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(b.length), b]);
};
const frame = (parts: Buffer[]) => {
  const payload = Buffer.concat(parts);
  return Buffer.concat([u32(payload.length), payload]);
};

export function encodeCommand(c: Command): Buffer {
  const head = [u32(TAG.command)];
  switch (c.kind) {
    case 'print':
      return frame([...head, u32(SUB.print), str(c.text)]);
    case 'printStderr':
      return frame([...head, u32(SUB.printStderr), str(c.text)]);
    case 'debug':
      return frame([...head, u32(SUB.debug), str(c.text)]);
    case 'load':
      return frame([...head, u32(SUB.load), str(c.filename)]);
    case 'prompt':
      return frame([...head, u32(SUB.prompt)]);
    case 'httpGet':
      return frame([...head, u32(SUB.httpGet), str(c.filename), str(c.url)]);
    case 'httpPut':
      return frame([...head, u32(SUB.httpPut), str(c.filename), str(c.url)]);
    case 'httpConnect':
      return frame([...head, u32(SUB.httpConnect), str(c.url)]);
    case 'exit':
      return frame([...head, u32(SUB.exit), u32(c.code)]);
    case 'error':
      return frame([...head, u32(SUB.error), str(c.code), u32(c.params.length), ...c.params.map(str)]);
  }
}

export function encodeResponse(r: 'ok' | 'failed' | 'wait'): Buffer {
  return frame([u32(TAG.response), u32(r === 'ok' ? SUB.ok : r === 'failed' ? SUB.failed : SUB.wait)]);
}

/** A Blob Chunk header; the `length` raw bytes follow it outside the frame. */
export function encodeChunk(length: number): Buffer {
  return frame([u32(TAG.blob), u32(SUB.chunk), u32(length)]);
}

export function encodeEnd(): Buffer {
  return frame([u32(TAG.blob), u32(SUB.end)]);
}

export class ProtocolError extends Error {}

/** Decodes one payload (without its length prefix). */
export function decodeMessage(p: Buffer): Message {
  let off = 0;
  const need = (n: number) => {
    if (off + n > p.length) throw new ProtocolError('truncated message');
  };
  const int = () => {
    need(4);
    const v = p.readUInt32LE(off);
    off += 4;
    return v;
  };
  const string = () => {
    const n = int();
    need(n);
    const s = p.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const tag = int();
  const sub = int();
  if (tag === TAG.response) {
    if (sub === SUB.ok) return { tag: 'response', response: 'ok' };
    if (sub === SUB.failed) return { tag: 'response', response: 'failed' };
    if (sub === SUB.wait) return { tag: 'response', response: 'wait' };
  } else if (tag === TAG.blob) {
    if (sub === SUB.chunk) return { tag: 'chunk', length: int() };
    if (sub === SUB.end) return { tag: 'end' };
  } else if (tag === TAG.command) {
    const c = (command: Command): Message => ({ tag: 'command', command });
    switch (sub) {
      case SUB.print:
        return c({ kind: 'print', text: string() });
      case SUB.printStderr:
        return c({ kind: 'printStderr', text: string() });
      case SUB.debug:
        return c({ kind: 'debug', text: string() });
      case SUB.load:
        return c({ kind: 'load', filename: string() });
      case SUB.prompt:
        return c({ kind: 'prompt' });
      case SUB.httpGet:
        return c({ kind: 'httpGet', filename: string(), url: string() });
      case SUB.httpPut:
        return c({ kind: 'httpPut', filename: string(), url: string() });
      case SUB.httpConnect:
        return c({ kind: 'httpConnect', url: string() });
      case SUB.exit:
        return c({ kind: 'exit', code: int() });
      case SUB.error: {
        const code = string();
        const n = int();
        const params: string[] = [];
        for (let i = 0; i < n; i++) params.push(string());
        return c({ kind: 'error', code, params });
      }
    }
  }
  throw new ProtocolError(`unknown message ${tag}/${sub}`);
}

/**
 * Pulls bytes from a readable stream on demand: exact-length reads for the handshake, frames and
 * raw blob data. Ends with `null` at EOF.
 */
export class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter?: () => void;

  constructor(stream: NodeJS.ReadableStream, initial?: Buffer) {
    if (initial?.length) this.buf = Buffer.from(initial);
    stream.on('data', (c: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c;
      this.waiter?.();
    });
    const end = () => {
      this.ended = true;
      this.waiter?.();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  async read(n: number): Promise<Buffer | null> {
    while (this.buf.length < n) {
      if (this.ended) return null;
      await new Promise<void>((r) => {
        this.waiter = r;
      });
      this.waiter = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Reads one framed message; null at EOF. Frames above `max` bytes are refused. */
  async message(max = 1 << 20): Promise<Message | null> {
    const len = await this.read(4);
    if (!len) return null;
    const n = len.readUInt32LE(0);
    if (n > max) throw new ProtocolError(`message too large (${n} bytes)`);
    const p = await this.read(n);
    if (!p) return null;
    return decodeMessage(p);
  }
}
