// The master's side of a join and the internal endpoints: one transaction or none, undo, and
// credentials checked before anything is read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiError } from '../../../src/clients/sdk/client.js';
import type { Database } from '../../../src/manager/db/database.js';
import { collectBundle, importBundle, undoImport } from '../../../src/manager/pool/bundle.js';
import { postInternal, SECRET_HEADER, SESSION_HEADER } from '../../../src/manager/pool/peer.js';
import type { PoolService } from '../../../src/manager/pool/service.js';
import { expectError } from './expect.js';
import { startPoolHosts } from './harness.js';

function snapshot(db: Database): string {
  const out: Record<string, unknown> = {};
  for (const cls of db.storedClasses())
    if (cls !== 'session' && cls !== 'task') out[cls] = Object.fromEntries(db.all(cls));
  return JSON.stringify(out);
}

test('a join bundle imports in one transaction, merges networks by bridge, and undoes', {
  timeout: 60_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, j] = members;
  const mdb = m.manager!.db;
  const jdb = j.manager!.db;
  const jHost = j.manager!.svc.hostRef();
  // Both hosts have a network on bridge xenbr0: the joiner's PIF ends up on the master's network.
  const mNet = mdb.create('network', { name_label: 'm0', bridge: 'xenbr0', MTU: 1500 });
  const jNet = jdb.create('network', { name_label: 'j0', bridge: 'xenbr0', MTU: 1500 });
  const jPif = jdb.create('PIF', { device: 'eth0', host: jHost, network: jNet, management: true });
  const before = snapshot(mdb);

  const bundle = collectBundle(jdb, jHost);
  const created = importBundle(mdb, bundle);
  assert.equal(mdb.get('PIF', jPif)?.network, mNet);
  assert.equal(mdb.get('network', jNet), undefined);
  assert.ok((mdb.get('network', mNet)!.PIFs as string[]).includes(jPif));
  assert.ok((mdb.get('host', jHost)!.PIFs as string[]).includes(jPif), 'host.PIFs linked');
  // The same host again: its uuid is taken, nothing of the second import stays.
  const during = snapshot(mdb);
  assert.throws(
    () => importBundle(mdb, bundle),
    (e: unknown) => (e as XenApiError).code === 'DB_UNIQUENESS_CONSTRAINT_VIOLATION',
  );
  assert.equal(snapshot(mdb), during);
  undoImport(mdb, created);
  assert.equal(snapshot(mdb), before);
});

test('internal endpoints refuse missing or wrong credentials', { timeout: 60_000 }, async (t) => {
  const { members } = await startPoolHosts(t, [{}]);
  const [m] = members;
  const ep = m.manager!.svc.pool!.endpoint;
  await expectError(
    postInternal(ep, m.address, '/pool/db', { since: -1 }, {}),
    'SESSION_AUTHENTICATION_FAILED',
  );
  await expectError(
    postInternal(ep, m.address, '/pool/db', { since: -1 }, { [SECRET_HEADER]: 'wrong' }),
    'SESSION_AUTHENTICATION_FAILED',
  );
  await expectError(postInternal(ep, m.address, '/pool/join', { bundle: {} }, {}), 'SESSION_INVALID');
  await expectError(
    postInternal(ep, m.address, '/pool/join', { bundle: {} }, { [SESSION_HEADER]: 'OpaqueRef:nope' }),
    'SESSION_INVALID',
  );
  const dump = await postInternal<{ full: boolean; rows: unknown[] }>(
    ep,
    m.address,
    '/pool/db',
    { since: -1 },
    {
      [SECRET_HEADER]: m.manager!.svc.pool!.secret,
    },
  );
  assert.equal(dump.full, true);
  assert.ok(dump.rows.length > 0);
});

test('a join that fails on the joiner after the master imported is undone on the master', {
  timeout: 60_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, j] = members;
  const before = [snapshot(m.manager!.db), snapshot(j.manager!.db)];
  // The master imports, then cannot serve the joiner its database.
  const pool = m.manager!.svc.pool! as PoolService & { dump: PoolService['dump'] };
  pool.dump = async () => {
    throw new XenApiError('INTERNAL_ERROR', ['injected: no dump']);
  };
  const cj = await j.client();
  await expectError(cj.call('pool.join', m.address, 'root', m.rootPassword), 'INTERNAL_ERROR');
  assert.equal(snapshot(m.manager!.db), before[0], 'master as before');
  assert.equal(snapshot(j.manager!.db), before[1], 'joiner as before');
  assert.equal(j.manager!.svc.pool!.role.kind, 'master');
  // The joiner still answers as a master of its own pool.
  assert.equal((await cj.call('host.get_all')).length, 1);
});

test("join over HTTPS (self-signed certificates, as xapi's first join phase)", {
  timeout: 90_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}], 'https');
  const [m, j] = members;
  await (await j.client()).call('pool.join', m.address, 'root', m.rootPassword);
  const cm = await m.client();
  assert.equal((await cm.call('host.get_all')).length, 2);
  await expectError((await m.client()).call('pool.eject', m.manager!.svc.hostRef()), 'OPERATION_NOT_ALLOWED');
  assert.equal(j.manager!.svc.pool!.role.kind, 'slave');
  assert.equal(j.manager!.db.count('host'), 2);
});
