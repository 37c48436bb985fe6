// VDI.get_nbd_info through the real API (JSON-RPC over HTTP) and the export server it points at:
// the record's export name, address, port and certificate are what nbdinfo/nbdcopy need to read
// a snapshot over TLS; sessions, roles and unknown VDIs are checked by the server.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startNbdServer } from '../../../src/manager/nbd/index.js';
import { certificateHostnames } from '../../../src/manager/nbd/nbd-info.js';
import { ensureSelfSignedCert, loadTls } from '../../../src/manager/tls.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';
import { nbdinfoDataExtents, nbdUri, patternedVdi, qemuNbdBackend, rpc, tool, volumeOf } from './helpers.js';

const MiB = 1024 * 1024;

test('VDI.get_nbd_info names an export that nbdinfo and nbdcopy read over TLS', async (t) => {
  const backend = qemuNbdBackend(t); // registered first: qemu-nbd dies before the dirs go
  const dir = tempDir(t, 'berth-nbdserver-api-');
  const m = await startManager(t, { dataDir: join(dir, 'data') });
  const { svc, db } = m.manager;
  const url = m.httpUrl;
  const session = await rpc(url, 'session.login_with_password', ['root', m.rootPassword, '1.0', 'nbd-test']);
  const call = (method: string, ...args: unknown[]) => rpc(url, method, [session, ...args]);

  // A disk with data at 0 and 32 MiB, and its snapshot (what a backup reads).
  const vdi = await patternedVdi(call, db, 'nbd-disk');
  const snap = await call('VDI.snapshot', vdi, {});
  const snapUuid = await call('VDI.get_uuid', snap);
  const snapFile = volumeOf(db, snap);

  // No network has an NBD purpose yet: nothing to offer (xapi: an empty list).
  const cert = join(dir, 'tls', 'server.crt');
  const key = join(dir, 'tls', 'server.key');
  const host = db.mustGet('host', svc.hostRef());
  await ensureSelfSignedCert(cert, key, String(host.hostname), '127.0.0.1');
  const tls = loadTls(cert, key);
  await backend.start(dir, snapFile.path, snapFile.format);
  const opened: string[] = [];
  const nbd = await startNbdServer(svc, {
    port: 0,
    host: '127.0.0.1',
    tls: { cert: tls.cert.toString(), key: tls.key.toString() },
    openBackend: (v) => {
      opened.push(v);
      return backend.openBackend(v);
    },
    handshakeTimeoutMs: 5000,
  });
  t.after(() => nbd.server.close());
  assert.deepEqual(await call('VDI.get_nbd_info', snap), []);

  // A network with purpose nbd and an attached PIF of this host on it.
  const net = await call('network.create', {
    name_label: 'nbd-net',
    name_description: '',
    MTU: 1500,
    other_config: {},
    bridge: '',
  });
  db.create('PIF', {
    device: 'nbd0',
    network: net,
    host: svc.hostRef(),
    MAC: '02:00:00:00:0b:d0',
    MTU: 1500,
    VLAN: -1,
    IP: '127.0.0.1',
    IPv6: ['', '::1'],
    currently_attached: true,
  });
  // Not attached: not offered.
  db.create('PIF', {
    device: 'nbd1',
    network: net,
    host: svc.hostRef(),
    MAC: '02:00:00:00:0b:d1',
    MTU: 1500,
    VLAN: -1,
    IP: '10.9.9.9',
    currently_attached: false,
  });
  assert.deepEqual(await call('VDI.get_nbd_info', snap), []);
  await call('network.add_purpose', net, 'nbd');
  const infos = (await call('VDI.get_nbd_info', snap)) as Record<string, unknown>[];
  assert.deepEqual(
    infos.map((i) => i.address),
    ['127.0.0.1', '::1'],
  );
  const info = infos[0];
  assert.equal(info.exportname, `/${snapUuid}?session_id=${session}`);
  assert.equal(info.port, nbd.port);
  assert.equal(info.cert, tls.cert.toString());
  const names = certificateHostnames(String(info.cert));
  assert.ok(names.includes(String(info.subject)), `${info.subject} in ${names}`);
  assert.equal(info.subject, [...names].sort()[0]);

  // A client trusting exactly the returned certificate reads the snapshot over TLS.
  const caDir = join(dir, 'client-tls');
  mkdirSync(caDir);
  writeFileSync(join(caDir, 'ca-cert.pem'), String(info.cert));
  const uri = nbdUri(Number(info.port), String(info.exportname), { caDir });
  const size = await tool('nbdinfo', ['--size', uri]);
  assert.equal(size.code, 0, size.stderr);
  assert.equal(size.stdout.trim(), String(64 * MiB));
  assert.deepEqual(await nbdinfoDataExtents(uri), [
    [0, MiB],
    [32 * MiB, MiB],
  ]);
  const copy = join(dir, 'copy.raw');
  const c = await tool('nbdcopy', [uri, copy]);
  assert.equal(c.code, 0, c.stderr);
  const cmp = await tool('qemu-img', ['compare', '-f', snapFile.format, '-F', 'raw', snapFile.path, copy]);
  assert.equal(cmp.code, 0, cmp.stdout);
  assert.ok(opened.every((v) => v === snap));

  // Refused: an unknown VDI, a read-only user's session, a session that logged out.
  const openedBefore = opened.length;
  const other = nbdUri(nbd.port, `/00000000-0000-4000-8000-000000000000?session_id=${session}`, { caDir });
  assert.notEqual((await tool('nbdinfo', ['--size', other])).code, 0);
  await svc.users.add('nbd-reader', 'read-only', 'secret-pw');
  const ro = await rpc(url, 'session.login_with_password', ['nbd-reader', 'secret-pw', '1.0', 'nbd-test']);
  const denied = await rpc(url, 'VDI.get_nbd_info', [ro, snap]).then(
    () => 'allowed',
    (e) => String(e.message),
  );
  assert.match(denied, /RBAC_PERMISSION_DENIED/);
  const roUri = nbdUri(nbd.port, `/${snapUuid}?session_id=${ro}`, { caDir });
  assert.notEqual((await tool('nbdinfo', ['--size', roUri])).code, 0);
  await call('session.logout');
  assert.notEqual((await tool('nbdinfo', ['--size', uri])).code, 0);
  assert.equal(opened.length, openedBefore, 'no backend opened for a refused export');
});
