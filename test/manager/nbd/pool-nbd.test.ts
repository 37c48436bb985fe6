// NBD in a pool: the master's VDI.get_nbd_info offers a slave's disk at the slave's address with
// the slave's certificate, and the slave's NBD server accepts the session the master issued
// (checked by the master over /pool/nbd-authorize) and reads through its own agent (opened by the
// master over /pool/nbd-open). A logged-out session is refused by the slave too.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { volumePath } from '../../../src/shared/host/volume-path.js';
import { tempDir } from '../../helpers/tmp.js';
import { startPoolHosts, waitFor } from '../pool/harness.js';
import { tool } from './helpers.js';

const MiB = 1024 * 1024;

test('a slave serves its disks over NBD with sessions of the master', { timeout: 180_000 }, async (t) => {
  const { members, nbdPort } = await startPoolHosts(t, [
    { nbd: true, srRoots: [] },
    { nbd: true, srRoots: [] },
  ]);
  const dir = tempDir(t, 'berth-nbdwire-pool-');
  const [m, s] = members;
  assert.ok(nbdPort > 0);
  const slaveRef = s.manager!.svc.hostRef();
  await (await s.client()).call('pool.join', m.address, 'root', m.rootPassword);
  const svc = m.manager!.svc;
  const db = m.manager!.db;
  await waitFor('the slave live', () => svc.hosts.live(slaveRef));
  const c = await m.client();

  // A disk on the slave's local SR, with data at 0 and 8 MiB.
  const sr = [...db.all('PBD').values()].find(
    (p) => p.host === slaveRef && db.get('SR', String(p.SR))?.type !== 'iso' && p.currently_attached,
  )!.SR as string;
  const vdi = (await c.call('VDI.create', {
    SR: sr,
    virtual_size: 16 * MiB,
    type: 'user',
    name_label: 'slave-disk',
    sharable: false,
    read_only: false,
    other_config: {},
  } as never)) as string;
  const row = db.mustGet('VDI', vdi);
  const srRow = db.mustGet('SR', sr);
  const pbd = [...db.all('PBD').values()].find((p) => p.SR === sr)!;
  const file = volumePath(
    String(srRow.type),
    String(srRow.uuid),
    pbd.device_config as Record<string, string>,
    String(row.location),
  )!;
  for (const [off, pat] of [
    ['0', '0x11'],
    ['8M', '0x22'],
  ]) {
    const w = await tool('qemu-io', ['-f', file.format, '-c', `write -P ${pat} ${off} 1M`, file.path]);
    assert.equal(w.code, 0, w.stderr);
  }

  // NBD on, with a PIF of the slave (at its address) on the nbd network.
  const net = (await c.call('network.create', {
    name_label: 'nbdwire-pool',
    name_description: '',
    MTU: 1500,
    other_config: {},
    bridge: '',
  } as never)) as string;
  db.create('PIF', {
    device: 'nbdp0',
    network: net,
    host: slaveRef,
    MAC: '02:00:00:00:0b:e1',
    MTU: 1500,
    VLAN: -1,
    IP: s.address,
    IPv6: [],
    currently_attached: true,
  });
  await c.call('network.add_purpose', net, 'nbd');
  // The slave's server reads the purposes (TLS or not) from its replica: wait until it has them.
  await waitFor('the purpose on the slave', () =>
    ((s.manager!.db.get('network', net)?.purpose as string[] | undefined) ?? []).includes('nbd'),
  );
  const infos = (await c.call('VDI.get_nbd_info', vdi)) as unknown as Record<string, string>[];
  assert.deepEqual(
    infos.map((i) => i.address),
    [s.address],
    'only the slave, which has the SR, is offered',
  );
  const info = infos[0];
  assert.equal(
    info.cert,
    readFileSync(join(s.dataDir, 'tls', 'server.crt'), 'utf8'),
    "the slave's certificate",
  );

  const caDir = join(dir, 'ca');
  mkdirSync(caDir);
  writeFileSync(join(caDir, 'ca-cert.pem'), info.cert);
  const name = encodeURIComponent(info.exportname).replace(/%2F/g, '/');
  const uri = `nbds://${s.address}:${info.port}/${name}?tls-certificates=${caDir}`;
  const copy = join(dir, 'copy.raw');
  const r = await tool('nbdcopy', [uri, copy]);
  assert.equal(r.code, 0, r.stderr);
  const cmp = await tool('qemu-img', ['compare', '-f', file.format, '-F', 'raw', file.path, copy]);
  assert.equal(cmp.code, 0, cmp.stdout);
  await waitFor(
    'the export closed',
    async () => (await svc.hosts.get(slaveRef).blockdev_nbd_list()).length === 0,
  );

  // The master's server does not serve the slave's local disk: its SR is not attached there.
  const wrongHost = `nbds://${m.address}:${info.port}/${name}?tls-certificates=${caDir}`;
  assert.notEqual((await tool('nbdinfo', ['--size', wrongHost])).code, 0);

  // The session ends on the master: the slave refuses it.
  await c.logout();
  assert.notEqual((await tool('nbdinfo', ['--size', uri])).code, 0);
  assert.equal((await svc.hosts.get(slaveRef).blockdev_nbd_list()).length, 0);
});
