// The NBD export server against clients nobody here wrote (libnbd's nbdinfo and nbdcopy,
// qemu-img), with a real qemu-nbd as the backend, in both TLS modes; then bad clients.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { NbdServer, ExportRefused, type NbdMode } from '../../../src/manager/nbd/server.js';
import { Rep } from '../../../src/manager/nbd/protocol.js';
import { tempDir } from '../../helpers/tmp.js';
import { nbdUri, qemuNbdBackend, testCertificate, tool } from './helpers.js';

const MiB = 1024 * 1024;
const GOOD = '/3f1f6a8e-58f8-4f55-9b8e-6c1b5f0e9a01?session_id=OpaqueRef:good';

/** A 64 MiB qcow2 with data at 0 and at 32 MiB, holes elsewhere; the backend; a server. */
async function fixture(t: TestContext, mode: NbdMode['kind'], extra: { handshakeTimeoutMs?: number } = {}) {
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
  await backend.start(dir, image, 'qcow2');
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
