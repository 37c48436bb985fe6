// The NBD export server against clients nobody here wrote (libnbd's nbdinfo and nbdcopy,
// qemu-img), with a real qemu-nbd as the backend, in both TLS modes; then bad clients.
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { NbdServer, ExportRefused, type NbdMode } from '../../../src/manager/nbd/server.js';
import { infoRequest, NBDMAGIC, Opt, optionRequest, Rep } from '../../../src/manager/nbd/protocol.js';
import { ByteReader } from '../../../src/manager/nbd/reader.js';
import { tempDir } from '../../helpers/tmp.js';
import { nbdUri, qemuNbdBackend, testCertificate, tool } from './helpers.js';

const MiB = 1024 * 1024;
const GOOD = '/3f1f6a8e-58f8-4f55-9b8e-6c1b5f0e9a01?session_id=OpaqueRef:good';

/** A 64 MiB qcow2 with data at 0 and at 32 MiB, holes elsewhere; the backend; a server. */
async function fixture(
  t: TestContext,
  mode: NbdMode['kind'],
  extra: { handshakeTimeoutMs?: number; writableBackend?: boolean; maxConnections?: number } = {},
) {
  let server: NbdServer | undefined;
  t.after(async () => {
    await server?.close();
  });
  const backend = qemuNbdBackend(t);
  const dir = tempDir(t, 'berth-nbdserver-');
  const image = join(dir, 'disk.qcow2');
  assert.equal((await tool('qemu-img', ['create', '-f', 'qcow2', image, '64M'])).code, 0);
  for (const [off, pat] of [
    ['0', '0x5a'],
    ['32M', '0xa5'],
  ])
    assert.equal((await tool('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pat} ${off} 1M`, image])).code, 0);
  await backend.start(dir, image, 'qcow2', extra.writableBackend);
  const cert = await testCertificate(dir);
  const names: string[] = [];
  server = new NbdServer({
    mode: () =>
      mode === 'refuse'
        ? { kind: 'refuse', reason: 'NBD is off: no network has purpose nbd' }
        : { kind: mode },
    tls: { cert: cert.cert, key: cert.key },
    authorize: (name) => {
      names.push(name);
      if (name !== GOOD) throw new ExportRefused(Rep.ERR_UNKNOWN, `no such export`);
      return { vdi: 'OpaqueRef:vdi', readOnly: true };
    },
    openBackend: backend.openBackend,
    handshakeTimeoutMs: extra.handshakeTimeoutMs,
    maxConnections: extra.maxConnections,
  });
  const port = await server.listen(0, '127.0.0.1');
  return { dir, image, port, cert, server, backend, names };
}

test('plain (insecure_nbd): nbdinfo sees the size, read-only flag and the holes', async (t) => {
  const f = await fixture(t, 'plain');
  const info = await tool('nbdinfo', ['--json', nbdUri(f.port, GOOD)]);
  assert.equal(info.code, 0, info.stderr);
  const j = JSON.parse(info.stdout);
  const e = j.exports[0];
  assert.equal(e['export-size'], 64 * MiB);
  assert.equal(e.is_read_only, true);
  assert.equal(e.can_trim, false);
  assert.ok(e.contexts.includes('base:allocation'), JSON.stringify(e.contexts));
  const map = await tool('nbdinfo', ['--map', '--json', nbdUri(f.port, GOOD)]);
  assert.equal(map.code, 0, map.stderr);
  const extents = JSON.parse(map.stdout) as { offset: number; length: number; type: number }[];
  const data = extents.filter((x) => (x.type & 1) === 0);
  assert.deepEqual(
    data.map((x) => [x.offset, x.length]),
    [
      [0, MiB],
      [32 * MiB, MiB],
    ],
  );
  assert.ok(f.names.every((n) => n === GOOD));
});

test('TLS (nbd): nbdinfo verifies the certificate; nbdcopy and qemu-img convert copy the disk exactly', async (t) => {
  const f = await fixture(t, 'tls');
  const tlsUri = nbdUri(f.port, GOOD, { caDir: f.cert.caDir });
  const info = await tool('nbdinfo', ['--json', tlsUri]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal(JSON.parse(info.stdout).exports[0]['export-size'], 64 * MiB);

  // Without TLS the server answers NBD_REP_ERR_TLS_REQD (libnbd reports it as ENOTSUP).
  const plain = await tool('nbdinfo', [nbdUri(f.port, GOOD)]);
  assert.notEqual(plain.code, 0);
  assert.match(plain.stderr, /not supported|TLS/i);

  // A client that does not trust the certificate refuses it.
  const otherDir = join(f.dir, 'other');
  const other = await testCertificate(otherDir);
  const untrusted = await tool('nbdinfo', [nbdUri(f.port, GOOD, { caDir: other.caDir })]);
  assert.notEqual(untrusted.code, 0);

  const copy = join(f.dir, 'copy.raw');
  const c = await tool('nbdcopy', [tlsUri, copy]);
  assert.equal(c.code, 0, c.stderr);
  const cmp = await tool('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', f.image, copy]);
  assert.equal(cmp.code, 0, cmp.stdout + cmp.stderr);

  const conv = join(f.dir, 'conv.qcow2');
  const q = await tool('qemu-img', [
    'convert',
    '--object',
    `tls-creds-x509,id=tls0,endpoint=client,dir=${f.cert.caDir}`,
    '--image-opts',
    `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${f.port},export=${GOOD},tls-creds=tls0`,
    '-O',
    'qcow2',
    conv,
  ]);
  assert.equal(q.code, 0, q.stderr);
  const cmp2 = await tool('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', f.image, conv]);
  assert.equal(cmp2.code, 0, cmp2.stdout + cmp2.stderr);
});

test('plain: qemu-img convert from the nbd:// URI; writes are refused with EPERM', async (t) => {
  const f = await fixture(t, 'plain');
  const uri = nbdUri(f.port, GOOD);
  const out = join(f.dir, 'out.raw');
  const q = await tool('qemu-img', ['convert', '-f', 'raw', uri, '-O', 'raw', out]);
  assert.equal(q.code, 0, q.stderr);
  const cmp = await tool('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', f.image, out]);
  assert.equal(cmp.code, 0, cmp.stdout + cmp.stderr);
  // qemu-io opens read-write unless told: the server says read-only, so the write fails cleanly.
  const w = await tool('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 64k', uri]);
  assert.match(w.stdout + w.stderr, /read-only|Operation not permitted|EPERM|denied/i);
  const check = await tool('qemu-io', ['-r', '-f', 'raw', '-c', 'read -P 0x5a 0 64k', uri]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.doesNotMatch(check.stdout, /Pattern verification failed/);
});

// ---- bad clients, spoken to byte by byte

/** A raw client: connects, reads the greeting, sends client flags. */
async function rawClient(t: TestContext, port: number, flags = 3) {
  const s = net.createConnection(port, '127.0.0.1');
  t.after(() => s.destroy());
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  const r = new ByteReader(s);
  const g = await r.read(18);
  assert.equal(g.readBigUInt64BE(0), NBDMAGIC);
  const f = Buffer.alloc(4);
  f.writeUInt32BE(flags, 0);
  s.write(f);
  const reply = async () => {
    const h = await r.read(20);
    const len = h.readUInt32BE(16);
    return {
      option: h.readUInt32BE(8),
      type: h.readUInt32BE(12),
      data: len ? await r.read(len) : Buffer.alloc(0),
    };
  };
  const closed = () =>
    new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));
  return { s, r, reply, closed };
}

test('bad input: garbage, oversize options, unknown exports, LIST, slow clients; the server lives on', async (t) => {
  const f = await fixture(t, 'plain', { handshakeTimeoutMs: 400 });

  // Garbage instead of an option header: the server hangs up.
  const g = await rawClient(t, f.port);
  g.s.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await g.closed();

  // Unknown client flags: the server hangs up (the protocol says so).
  const u = await rawClient(t, f.port, 0xff);
  await u.closed();

  // An option claiming 1 GiB of data: NBD_REP_ERR_TOO_BIG, then the connection closes.
  const big = await rawClient(t, f.port);
  const hdr = optionRequest(Opt.GO).subarray(0, 16);
  hdr.writeUInt32BE(1 << 30, 12);
  big.s.write(hdr);
  assert.equal((await big.reply()).type, Rep.ERR_TOO_BIG);
  await big.closed();

  // Unknown export, malformed GO data, LIST, an unknown option: errors with a reason, and the
  // connection stays usable until the client aborts.
  const c = await rawClient(t, f.port);
  c.s.write(optionRequest(Opt.GO, infoRequest('/nope?session_id=x', [])));
  const unknown = await c.reply();
  assert.equal(unknown.type, Rep.ERR_UNKNOWN);
  assert.match(unknown.data.toString(), /no such export/);
  c.s.write(optionRequest(Opt.GO, Buffer.from([0, 0, 0, 200, 1, 2])));
  assert.equal((await c.reply()).type, Rep.ERR_INVALID);
  c.s.write(optionRequest(Opt.LIST));
  assert.equal((await c.reply()).type, Rep.ERR_POLICY);
  c.s.write(optionRequest(99));
  assert.equal((await c.reply()).type, Rep.ERR_UNSUP);
  c.s.write(optionRequest(Opt.STARTTLS));
  assert.equal((await c.reply()).type, Rep.ERR_POLICY); // insecure_nbd: no TLS offered
  c.s.write(optionRequest(Opt.ABORT));
  assert.equal((await c.reply()).type, Rep.ACK);
  await c.closed();

  // A client that connects and says nothing is dropped at the handshake deadline.
  const started = Date.now();
  const slow = net.createConnection(f.port, '127.0.0.1');
  t.after(() => slow.destroy());
  await new Promise<void>((resolve) => slow.on('close', () => resolve()).resume());
  const waited = Date.now() - started;
  assert.ok(waited >= 350 && waited < 5000, `dropped after ${waited} ms`);

  // Through all of this the server kept serving, and every backend opened was closed.
  const info = await tool('nbdinfo', ['--size', nbdUri(f.port, GOOD)]);
  assert.equal(info.stdout.trim(), String(64 * MiB));
  await waitFor(() => f.server.connections === 0);
  await waitFor(() => f.backend.counts().opened === f.backend.counts().closed);
  assert.ok(f.backend.counts().opened >= 1);
});

test('TLS forced: options before STARTTLS get ERR_TLS_REQD, EXPORT_NAME hangs up', async (t) => {
  const f = await fixture(t, 'tls');
  const c = await rawClient(t, f.port);
  c.s.write(optionRequest(Opt.GO, infoRequest(GOOD, [])));
  assert.equal((await c.reply()).type, Rep.ERR_TLS_REQD);
  c.s.write(optionRequest(Opt.EXPORT_NAME, Buffer.from(GOOD)));
  await c.closed();
  assert.equal(f.backend.counts().opened, 0);
});

test('NBD off (no network purpose): every option is refused with the reason', async (t) => {
  const f = await fixture(t, 'refuse');
  const c = await rawClient(t, f.port);
  c.s.write(optionRequest(Opt.GO, infoRequest(GOOD, [])));
  const r = await c.reply();
  assert.equal(r.type, Rep.ERR_POLICY);
  assert.match(r.data.toString(), /no network has purpose nbd/);
  const info = await tool('nbdinfo', [nbdUri(f.port, GOOD)]);
  assert.notEqual(info.code, 0);
});

test('transmission: a WRITE to the read-only export gets EPERM, reads still work', async (t) => {
  // The backend would accept the write: only the export server stands between it and the disk.
  const f = await fixture(t, 'plain', { writableBackend: true });
  for (const structured of [false, true]) {
    const c = await rawClient(t, f.port);
    if (structured) {
      c.s.write(optionRequest(Opt.STRUCTURED_REPLY));
      assert.equal((await c.reply()).type, Rep.ACK);
    }
    c.s.write(optionRequest(Opt.GO, infoRequest(GOOD, [])));
    const info = await c.reply();
    assert.equal(info.type, Rep.INFO);
    assert.ok(info.data.readUInt16BE(10) & 2, 'READ_ONLY flag');
    for (let r = await c.reply(); r.type !== Rep.ACK; r = await c.reply()) assert.equal(r.type, Rep.INFO);
    const req = (type: number, handle: number, offset: number, length: number) => {
      const b = Buffer.alloc(28);
      b.writeUInt32BE(0x25609513, 0);
      b.writeUInt16BE(type, 6);
      b.writeBigUInt64BE(BigInt(handle), 8);
      b.writeBigUInt64BE(BigInt(offset), 16);
      b.writeUInt32BE(length, 24);
      return b;
    };
    // WRITE of 4 KiB (payload follows), then a READ of the same range.
    c.s.write(Buffer.concat([req(1, 7, 0, 4096), Buffer.alloc(4096, 0x11), req(0, 8, 0, 4096)]));
    const first = await c.r.read(structured ? 20 : 16);
    if (!structured) {
      assert.equal(first.readUInt32BE(0), 0x67446698);
      assert.equal(first.readUInt32BE(4), 1); // EPERM
      assert.equal(first.readBigUInt64BE(8), 7n);
      const rd = await c.r.read(16);
      assert.equal(rd.readUInt32BE(4), 0);
      assert.equal(rd.readBigUInt64BE(8), 8n);
      assert.ok((await c.r.read(4096)).every((b) => b === 0x5a));
    } else {
      assert.equal(first.readUInt32BE(0), 0x668e33ef);
      assert.equal(first.readUInt16BE(6), 32769); // NBD_REPLY_TYPE_ERROR
      assert.equal(first.readBigUInt64BE(8), 7n);
      const body = await c.r.read(first.readUInt32BE(16));
      assert.equal(body.readUInt32BE(0), 1); // EPERM
      assert.match(body.toString('utf8', 6), /read-only/);
      // qemu answers the read with data chunks; collect them until DONE.
      let got = 0;
      for (let done = false; !done; ) {
        const h = await c.r.read(20);
        assert.equal(h.readBigUInt64BE(8), 8n);
        done = (h.readUInt16BE(4) & 1) === 1;
        const payload = await c.r.read(h.readUInt32BE(16));
        if (h.readUInt16BE(6) === 1) {
          assert.ok(payload.subarray(8).every((b) => b === 0x5a));
          got += payload.length - 8;
        }
      }
      assert.equal(got, 4096);
    }
    c.s.write(req(2, 9, 0, 0)); // NBD_CMD_DISC
    await c.closed();
  }
  // The image is unchanged.
  const check = await tool('qemu-io', ['-r', '-f', 'qcow2', '-c', 'read -P 0x5a 0 4k', f.image]);
  assert.doesNotMatch(check.stdout, /verification failed/);
});

test('connection limit: over it, a connection is closed at once; freed slots serve again', async (t) => {
  const f = await fixture(t, 'plain', { maxConnections: 2 });
  const a = await rawClient(t, f.port);
  await rawClient(t, f.port);
  const over = net.createConnection(f.port, '127.0.0.1');
  t.after(() => over.destroy());
  const got: Buffer[] = [];
  await new Promise<void>((resolve) => over.on('data', (d) => got.push(d)).on('close', () => resolve()));
  assert.equal(Buffer.concat(got).length, 0); // not even a greeting
  a.s.destroy();
  await waitFor(() => f.server.connections < 2);
  const c = await rawClient(t, f.port);
  c.s.write(optionRequest(Opt.LIST));
  assert.equal((await c.reply()).type, Rep.ERR_POLICY);
});

async function waitFor(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
