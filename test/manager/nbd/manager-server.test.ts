// The NBD server as the Manager runs it: started by Manager.listen() (--nbd-port), presenting the
// HTTPS certificate, reading disks through the real agent's blockdev_nbd_open (qemu-storage-daemon)
// and closing each export when its client goes. Read with tools nobody here wrote: nbdinfo,
// nbdcopy, qemu-img convert over TLS, compared with qemu-img compare.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';
import { nbdinfoDataExtents, nbdUri, patternedVdi, rpc, tool, volumeOf } from './helpers.js';

const MiB = 1024 * 1024;

/** Pids of qemu-storage-daemon processes whose command line mentions `dir`. */
function storageDaemonsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.startsWith('qemu-storage-daemon') || cmd.includes('/qemu-storage-daemon\0'))
      if (cmd.includes(dir)) out.push(Number(p));
  }
  return out;
}

async function until(pred: () => Promise<boolean> | boolean, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the Manager serves VDIs over TLS NBD through its agent', async (t) => {
  const dir = tempDir(t, 'berth-nbdwire-');
  const dataDir = join(dir, 'data');
  const m = await startManager(t, { dataDir, nbd: true });
  const { svc, db } = m.manager;
  assert.ok(m.nbdPort && m.nbdPort > 0, 'the NBD server listens');
  const agent = svc.hosts.local();
  const url = m.httpUrl;
  const session = await rpc(url, 'session.login_with_password', ['root', m.rootPassword, '1.0', 'nbd']);
  const call = (method: string, ...args: unknown[]) => rpc(url, method, [session, ...args]);

  // A disk with data at 0 and 32 MiB (the rest holes), and its snapshot.
  const vdi = await patternedVdi(call, db, 'nbdwire-disk');
  const snap = await call('VDI.snapshot', vdi, {});
  const snapFile = volumeOf(db, snap);

  // NBD switched on: a network with purpose nbd and an attached PIF of this host.
  const net = await call('network.create', {
    name_label: 'nbdwire-net',
    name_description: '',
    MTU: 1500,
    other_config: {},
    bridge: '',
  });
  db.create('PIF', {
    device: 'nbdw0',
    network: net,
    host: svc.hostRef(),
    MAC: '02:00:00:00:0b:e0',
    MTU: 1500,
    VLAN: -1,
    IP: '127.0.0.1',
    IPv6: [],
    currently_attached: true,
  });
  await call('network.add_purpose', net, 'nbd');
  const [info, ...more] = (await call('VDI.get_nbd_info', snap)) as Record<string, unknown>[];
  assert.equal(more.length, 0);
  assert.equal(info.port, m.nbdPort);
  assert.equal(info.address, '127.0.0.1');
  assert.equal(info.cert, readFileSync(join(dataDir, 'tls', 'server.crt'), 'utf8'), 'the HTTPS certificate');

  const caDir = join(dir, 'client-tls');
  mkdirSync(caDir);
  writeFileSync(join(caDir, 'ca-cert.pem'), String(info.cert));
  const uri = nbdUri(Number(info.port), String(info.exportname), { caDir });
  const noExports = async () => (await agent.blockdev_nbd_list()).length === 0;

  const size = await tool('nbdinfo', ['--size', uri]);
  assert.equal(size.code, 0, size.stderr);
  assert.equal(size.stdout.trim(), String(64 * MiB));
  await until(noExports, 10_000, 'the export closed after nbdinfo --size');

  assert.deepEqual(
    await nbdinfoDataExtents(uri),
    [
      [0, MiB],
      [32 * MiB, MiB],
    ],
    'only the written MiBs are data; the rest are holes',
  );

  const copy = join(dir, 'copy.raw');
  const c = await tool('nbdcopy', [uri, copy]);
  assert.equal(c.code, 0, c.stderr);
  const cmp = await tool('qemu-img', ['compare', '-f', snapFile.format, '-F', 'raw', snapFile.path, copy]);
  assert.equal(cmp.code, 0, cmp.stdout);

  // qemu-img over TLS with the returned certificate (image-opts: the export name as it is).
  const converted = join(dir, 'converted.qcow2');
  const q = await tool('qemu-img', [
    'convert',
    '--object',
    `tls-creds-x509,id=t0,endpoint=client,dir=${caDir}`,
    '--image-opts',
    `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${info.port},export=${info.exportname},tls-creds=t0`,
    '-O',
    'qcow2',
    converted,
  ]);
  assert.equal(q.code, 0, q.stderr);
  const cmp2 = await tool('qemu-img', [
    'compare',
    '-f',
    snapFile.format,
    '-F',
    'qcow2',
    snapFile.path,
    converted,
  ]);
  assert.equal(cmp2.code, 0, cmp2.stdout);

  // The snapshot's parent (no VM holds it) is served too, read-only.
  const [live] = (await call('VDI.get_nbd_info', vdi)) as Record<string, unknown>[];
  const ro = await tool('nbdinfo', ['--json', nbdUri(Number(live.port), String(live.exportname), { caDir })]);
  assert.equal(ro.code, 0, ro.stderr);
  const exp = (JSON.parse(ro.stdout) as { exports: { is_read_only: boolean; 'export-size': number }[] })
    .exports[0];
  assert.equal(exp.is_read_only, true);
  assert.equal(exp['export-size'], 64 * MiB);

  // Every client gone: no export left, no qemu-storage-daemon left.
  await until(noExports, 10_000, 'every export closed');
  await until(() => storageDaemonsUnder(dataDir).length === 0, 10_000, 'no qemu-storage-daemon left');

  // A logged-out session is refused, and opens nothing.
  await call('session.logout');
  const refused = await tool('nbdinfo', ['--size', uri]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /policy/i); // NBD_REP_ERR_POLICY (nbdinfo does not print the text)
  assert.equal((await agent.blockdev_nbd_list()).length, 0);
});
