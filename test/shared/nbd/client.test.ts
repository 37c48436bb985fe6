// The NBD client against a scripted server on a Unix socket: replies out of order, sparse reads,
// server errors for one command, and protocol violations (bad magic, unknown handle, short
// reads, a peer that hangs up) that fail cleanly instead of hanging or crashing.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Inbox } from '../../../src/shared/nbd/inbox.js';
import {
  BASE_ALLOCATION,
  connectNbd,
  extents,
  NbdClosedError,
  NbdError,
  NbdProtocolError,
  readStream,
} from '../../../src/shared/nbd/index.js';
import {
  CMD,
  IHAVEOPT,
  NBDMAGIC,
  OPT,
  OPTION_REPLY_MAGIC,
  REP,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  TX,
} from '../../../src/shared/nbd/protocol.js';
import { tempDir } from '../../helpers/tmp.js';

interface Req {
  type: number;
  flags: number;
  handle: Buffer;
  offset: number;
  length: number;
}

interface Script {
  /** First bytes the server sends (default: a fixed-newstyle greeting). */
  greeting?: Buffer;
  /** Hang up right after the greeting. */
  hangUp?: boolean;
  size?: number;
  flags?: number;
  structured?: boolean;
  /** Answers one request (the socket to write replies to). */
  onRequest?: (r: Req, s: Socket, all: Req[]) => void;
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const u64 = (n: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

function optReply(option: number, type: number, data = Buffer.alloc(0)) {
  return Buffer.concat([u64(OPTION_REPLY_MAGIC), u32(option), u32(type), u32(data.length), data]);
}

export function simple(handle: Buffer, error = 0, data = Buffer.alloc(0)) {
  return Buffer.concat([u32(SIMPLE_REPLY_MAGIC), u32(error), handle, data]);
}

export function chunk(handle: Buffer, type: number, payload: Buffer, done = true) {
  return Buffer.concat([
    u32(STRUCTURED_REPLY_MAGIC),
    u16(done ? REPLY_FLAG_DONE : 0),
    u16(type),
    handle,
    u32(payload.length),
    payload,
  ]);
}

/** A server speaking just enough NBD, per `script`. */
async function fakeServer(t: TestContext, script: Script): Promise<string> {
  const path = join(tempDir(t, 'berth-nbd-fake-'), 's');
  const conns = new Set<Socket>();
  const server: Server = createServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => undefined);
    const inbox = new Inbox();
    let phase: 'flags' | 'options' | 'tx' = 'flags';
    const all: Req[] = [];
    s.write(script.greeting ?? Buffer.concat([u64(NBDMAGIC), u64(IHAVEOPT), u16(3)]));
    if (script.hangUp) s.end();
    s.on('data', (d: Buffer) => {
      inbox.push(d);
      for (;;) {
        if (phase === 'flags') {
          if (!inbox.take(4)) return;
          phase = 'options';
        } else if (phase === 'options') {
          if (inbox.length < 16) return;
          const h = inbox.take(16) as Buffer;
          const len = h.readUInt32BE(12);
          const data = inbox.take(len);
          assert.ok(data, 'option data in one piece (test server)');
          const opt = h.readUInt32BE(8);
          if (opt === OPT.STRUCTURED_REPLY)
            s.write(optReply(opt, script.structured === false ? 0x80000001 : REP.ACK));
          else if (opt === OPT.SET_META_CONTEXT) {
            s.write(optReply(opt, REP.META_CONTEXT, Buffer.concat([u32(7), Buffer.from(BASE_ALLOCATION)])));
            s.write(optReply(opt, REP.ACK));
          } else if (opt === OPT.GO) {
            const info = Buffer.concat([
              u16(0),
              u64(script.size ?? 1 << 20),
              u16(script.flags ?? TX.HAS_FLAGS | TX.SEND_FLUSH),
            ]);
            s.write(optReply(opt, REP.INFO, info));
            s.write(optReply(opt, REP.ACK));
            phase = 'tx';
          } else s.write(optReply(opt, 0x80000001));
        } else {
          if (inbox.length < 28) return;
          const h = inbox.take(28) as Buffer;
          const r: Req = {
            flags: h.readUInt16BE(4),
            type: h.readUInt16BE(6),
            handle: Buffer.from(h.subarray(8, 16)),
            offset: Number(h.readBigUInt64BE(16)),
            length: h.readUInt32BE(24),
          };
          if (r.type === CMD.WRITE) inbox.take(r.length);
          if (r.type === CMD.DISC) return void s.end();
          all.push(r);
          script.onRequest?.(r, s, all);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of conns) s.destroy();
      }),
  );
  return path;
}

const protocolError = (re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof NbdProtocolError, `a protocol error, got ${String(e)}`);
  assert.match(e.message, re);
  return true;
};

test('Inbox takes exact lengths across chunks', () => {
  const q = new Inbox();
  q.push(Buffer.from([1, 2, 3]));
  q.push(Buffer.from([4, 5]));
  q.push(Buffer.from([6, 7, 8, 9]));
  assert.equal(q.peekUInt32(), 0x01020304);
  assert.deepEqual([...(q.take(2) as Buffer)], [1, 2]);
  assert.deepEqual([...(q.take(4) as Buffer)], [3, 4, 5, 6]);
  assert.equal(q.take(4), undefined);
  assert.equal(q.length, 3);
  assert.deepEqual([...(q.take(3) as Buffer)], [7, 8, 9]);
  assert.equal(q.length, 0);
});

test('replies out of order reach their requests; sparse structured reads are assembled', async (t) => {
  const path = await fakeServer(t, {
    onRequest: (_r, s, all) => {
      if (all.length < 3) return; // hold the first two, answer all three in reverse
      for (const q of [...all].reverse()) {
        // Each read: a hole over its first half, data (its offset's low byte) over the rest.
        const half = q.length / 2;
        s.write(chunk(q.handle, REPLY_TYPE.OFFSET_HOLE, Buffer.concat([u64(q.offset), u32(half)]), false));
        s.write(
          chunk(
            q.handle,
            REPLY_TYPE.OFFSET_DATA,
            Buffer.concat([u64(q.offset + half), Buffer.alloc(half, q.offset >> 12)]),
          ),
        );
      }
      all.length = 0;
    },
  });
  const c = await connectNbd({ socket: path });
  t.after(() => c.destroy());
  assert.equal(c.structured, true);
  const reads = [c.read(4096, 16), c.read(8192, 8), c.read(12288, 4)];
  const [a, b, d] = await Promise.all(reads);
  assert.deepEqual([...a], [...Buffer.alloc(8), ...Buffer.alloc(8, 1)]);
  assert.deepEqual([...b], [0, 0, 0, 0, 2, 2, 2, 2]);
  assert.deepEqual([...d], [0, 0, 3, 3]);
  // readStream over replies in reverse order still yields in order.
  const firsts: number[] = [];
  for await (const x of readStream(c, { offset: 4096, length: 3 * 4096, chunkSize: 4096, maxInFlight: 3 }))
    firsts.push(x[4095]);
  assert.deepEqual(firsts, [1, 2, 3]);
});

test('a server error fails one command; the connection keeps working', async (t) => {
  const path = await fakeServer(t, {
    onRequest: (r, s) => {
      if (r.offset === 0)
        s.write(chunk(r.handle, REPLY_TYPE.ERROR, Buffer.concat([u32(5), u16(4), Buffer.from('oops')])));
      else
        s.write(
          chunk(r.handle, REPLY_TYPE.OFFSET_DATA, Buffer.concat([u64(r.offset), Buffer.alloc(r.length, 9)])),
        );
    },
  });
  const c = await connectNbd({ socket: path });
  t.after(() => c.destroy());
  await assert.rejects(
    c.read(0, 4),
    (e: unknown) => e instanceof NbdError && e.code === 'EIO' && /oops/.test(e.message),
  );
  assert.deepEqual([...(await c.read(512, 2))], [9, 9]);
  // Bad ranges are refused before anything is sent or allocated.
  for (const [off, len] of [
    [0, -1],
    [-1, 1],
    [0, 2 ** 40],
    [1 << 20, 1],
    [0.5, 1],
  ])
    await assert.rejects(c.read(off, len), (e: unknown) => e instanceof NbdError && e.code === 'EINVAL');
  await c.disconnect();
});

test('protocol violations fail every pending request and never hang', async (t) => {
  const cases: { name: string; reply: (r: Req) => Buffer; error: RegExp }[] = [
    { name: 'bad magic', reply: () => Buffer.alloc(32, 0x41), error: /bad reply magic/ },
    {
      name: 'unknown handle',
      reply: () => simple(Buffer.alloc(8, 0xff)),
      error: /unknown handle/,
    },
    {
      name: 'short read',
      reply: (r) =>
        chunk(r.handle, REPLY_TYPE.OFFSET_DATA, Buffer.concat([u64(r.offset), Buffer.alloc(r.length - 1)])),
      error: /covered 4095 of 4096/,
    },
    {
      name: 'data outside the request',
      reply: (r) =>
        chunk(r.handle, REPLY_TYPE.OFFSET_DATA, Buffer.concat([u64(r.offset + 1), Buffer.alloc(r.length)])),
      error: /outside the request|limit/,
    },
    {
      name: 'oversized chunk',
      reply: (r) => chunk(r.handle, REPLY_TYPE.OFFSET_DATA, Buffer.alloc(r.length + 100)),
      error: /limit/,
    },
    {
      name: 'unknown chunk type',
      reply: (r) => chunk(r.handle, 77, Buffer.alloc(0)),
      error: /unknown reply chunk type 77/,
    },
  ];
  for (const k of cases) {
    const path = await fakeServer(t, { onRequest: (r, s) => s.write(k.reply(r)) });
    const c = await connectNbd({ socket: path });
    const first = c.read(0, 4096);
    const other = c.read(8192, 512);
    await assert.rejects(first, protocolError(k.error), k.name);
    await assert.rejects(other, k.name);
    await assert.rejects(c.read(0, 1), k.name); // the connection is gone for good
  }
});

test('a server that hangs up fails the pending reads with NbdClosedError', async (t) => {
  const path = await fakeServer(t, { onRequest: (_r, s) => s.destroy() });
  const c = await connectNbd({ socket: path });
  await assert.rejects(c.read(0, 512), NbdClosedError);
});

test('handshake failures are clean errors', async (t) => {
  const notNbd = await fakeServer(t, { greeting: Buffer.from('SSH-2.0-OpenSSH_9.2\r\n') });
  await assert.rejects(connectNbd({ socket: notNbd }), protocolError(/not an NBD server/));
  const oldstyle = await fakeServer(t, {
    greeting: Buffer.concat([u64(NBDMAGIC), u64(0x00420281861253n), u64(1 << 20), u32(1), Buffer.alloc(124)]),
  });
  await assert.rejects(connectNbd({ socket: oldstyle }), protocolError(/oldstyle/));
  const truncated = await fakeServer(t, { greeting: u64(NBDMAGIC), hangUp: true });
  await assert.rejects(connectNbd({ socket: truncated }), NbdClosedError);
  const noStructured = await fakeServer(t, { structured: false });
  await assert.rejects(connectNbd({ socket: noStructured }, { metaContexts: [BASE_ALLOCATION] }), NbdError);
  const c = await connectNbd({ socket: noStructured });
  assert.equal(c.structured, false);
  c.destroy();
});

test('simple replies: data follows a READ; readStream yields in order under a small window', async (t) => {
  let maxSeen = 0;
  let inFlight = 0;
  let requests = 0;
  const path = await fakeServer(t, {
    structured: false,
    size: 64 * 1024,
    onRequest: (r, s) => {
      requests++;
      inFlight++;
      maxSeen = Math.max(maxSeen, inFlight);
      setTimeout(() => {
        inFlight--;
        s.write(simple(r.handle, 0, Buffer.alloc(r.length, r.offset >> 12)));
      }, 2);
    },
  });
  const c = await connectNbd({ socket: path });
  t.after(() => c.destroy());
  const seen: number[] = [];
  for await (const d of readStream(c, { chunkSize: 4096, maxInFlight: 3 })) {
    assert.equal(d.length, 4096);
    seen.push(d[0]);
  }
  assert.deepEqual(seen, [...Array(16).keys()]);
  assert.ok(maxSeen <= 3 && maxSeen >= 2, `in flight at most 3 (saw ${maxSeen})`);

  // A consumer that stops taking: reads stop at the window's bytes ahead of it.
  requests = 0;
  const it = readStream(c, { chunkSize: 4096, maxInFlight: 3 });
  await it.next();
  await new Promise((r) => setTimeout(r, 100));
  // One chunk taken, then at most 3 requests + 1 chunk of read-ahead (16 KiB = 4 chunks).
  assert.ok(requests <= 5 && requests >= 4, `requests while the consumer waits: ${requests}`);
  await it.return(undefined);
  await assert.rejects(extents(c).next(), NbdError); // no meta context selected
});
