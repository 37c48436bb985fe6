// Shared SRs in a pool of real managers and agents on loopback: SR.create shared=true plugs a PBD
// on every member through that member's agent (now, or when an offline agent comes back), a host
// that joins later gets its PBD plugged, the pool master does the SR's volume work (another
// member once the master's PBD is unplugged), and a slave made master starts its storage.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { XenApiClient, XenApiError } from '../../../src/clients/sdk/client.js';
import type { PoolService } from '../../../src/manager/pool/service.js';
import { hostForSr } from '../../../src/manager/storage/sr-host.js';
import { tempDir } from '../../helpers/tmp.js';
import { expectError } from './expect.js';
import { type Member, startPoolHosts, waitFor } from './harness.js';

const MiB = 1024 * 1024;

async function liveOn(c: XenApiClient, host: string): Promise<boolean> {
  return c.call('host_metrics.get_live', await c.call('host.get_metrics', host));
}

/** host ref → PBD ref and whether it is plugged, from member x's database. */
function pbdsOf(x: Member, sr: string): Map<string, { ref: string; attached: boolean }> {
  const db = x.manager!.db;
  const out = new Map<string, { ref: string; attached: boolean }>();
  for (const p of db.mustGet('SR', sr).PBDs as string[]) {
    const r = db.get('PBD', p)!;
    out.set(String(r.host), { ref: p, attached: Boolean(r.currently_attached) });
  }
  return out;
}

const vdiRec = (sr: string, name: string) =>
  ({
    SR: sr,
    virtual_size: 4 * MiB,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: name,
  }) as never;

test('shared SR in a pool: PBDs on every member, the SR master, storage on a new master', {
  timeout: 180_000,
}, async (t) => {
  const shared = tempDir(t, 'berth-pool-shared-');
  const { members } = await startPoolHosts(t, [
    { srRoots: [shared] },
    { srRoots: [shared] },
    { srRoots: [shared] },
  ]);
  const [m, a, b] = members;
  const refs = new Map(members.map((x) => [x, x.manager!.svc.hostRef()]));
  const ref = (x: Member) => refs.get(x)!;
  await (await a.client()).call('pool.join', m.address, 'root', m.rootPassword);
  const cm = await m.client();
  await waitFor('a live', () => liveOn(cm, ref(a)));
  const svc = m.manager!.svc;

  // SR.create shared=true: a PBD per member, a's plugged by a's agent.
  const location = join(shared, 'sr');
  const sr = await cm.call('SR.create', ref(m), { location }, 0, 'pool', '', 'file', 'user', true, {});
  let pbds = pbdsOf(m, sr);
  assert.deepEqual([...pbds.keys()].sort(), [ref(m), ref(a)].sort());
  assert.ok(
    [...pbds.values()].every((p) => p.attached),
    'every PBD plugged',
  );

  // The master does the SR's volume work.
  assert.equal(hostForSr(svc, sr), ref(m));
  const v1 = await cm.call('VDI.create', vdiRec(sr, 'one'));
  assert.ok(existsSync(join(location, `${await cm.call('VDI.get_uuid', v1)}.qcow2`)));

  // A member's PBD unplugs and plugs through its agent.
  await cm.call('PBD.unplug', pbds.get(ref(a))!.ref);
  assert.equal(pbdsOf(m, sr).get(ref(a))!.attached, false);
  await cm.call('PBD.plug', pbds.get(ref(a))!.ref);
  assert.equal(pbdsOf(m, sr).get(ref(a))!.attached, true);

  // The master's PBD unplugged: a does the work; a's agent gone too: HOST_OFFLINE, nothing made.
  await cm.call('PBD.unplug', pbds.get(ref(m))!.ref);
  assert.equal(hostForSr(svc, sr), ref(a));
  const v2 = await cm.call('VDI.create', vdiRec(sr, 'two'));
  assert.ok(existsSync(join(location, `${await cm.call('VDI.get_uuid', v2)}.qcow2`)));
  await a.stopAgent();
  await waitFor('a offline', async () => !(await liveOn(cm, ref(a))));
  await assert.rejects(cm.call('VDI.create', vdiRec(sr, 'three')), (e: any) => e.code === 'HOST_OFFLINE');
  await a.startAgent();
  await waitFor('a live again', () => liveOn(cm, ref(a)));
  await cm.call('PBD.plug', pbds.get(ref(m))!.ref);
  assert.equal(hostForSr(svc, sr), ref(m));

  // A host joining later gets a PBD on the shared SR, plugged once its agent is reached.
  await (await b.client()).call('pool.join', m.address, 'root', m.rootPassword);
  await waitFor('b PBD plugged', () => pbdsOf(m, sr).get(ref(b))?.attached === true, 30_000);
  assert.deepEqual(pbdsOf(m, sr).get(ref(b)) && pbdsOf(m, sr).size, 3);

  // A member offline at SR.create: its PBD stays unplugged and is plugged when its agent returns.
  await b.stopAgent();
  await waitFor('b offline', async () => !(await liveOn(cm, ref(b))));
  const sr2 = await cm.call(
    'SR.create',
    ref(m),
    { location: join(shared, 'sr2') },
    0,
    'two',
    '',
    'file',
    '',
    true,
    {},
  );
  pbds = pbdsOf(m, sr2);
  assert.equal(pbds.size, 3);
  assert.equal(pbds.get(ref(b))!.attached, false);
  assert.equal(pbds.get(ref(a))!.attached, true);
  await b.startAgent();
  await waitFor(
    'b PBD of sr2 plugged at its agent return',
    () => pbdsOf(m, sr2).get(ref(b))?.attached,
    30_000,
  );

  // designate_new_master: a, restarted as a slave (which opens no storage), opens storage as a
  // master's start-up does (drivers, SM objects, SR work through it).
  await a.close();
  await a.open();
  assert.equal(a.manager!.svc.storageDrivers, undefined, 'a slave opens no storage');
  await cm.call('pool.designate_new_master', ref(a));
  await waitFor('storage started on a', () => a.manager!.svc.storageDrivers !== undefined, 30_000);
  const ca = await a.client();
  assert.equal(hostForSr(a.manager!.svc, sr), ref(a));
  const v4 = await ca.call('VDI.create', vdiRec(sr, 'four'));
  assert.ok(existsSync(join(location, `${await ca.call('VDI.get_uuid', v4)}.qcow2`)));
  assert.ok((await ca.call('SR.get_supported_types')).includes('file'));

  // pool.eject: b's shared PBDs are unplugged first; the standalone b keeps no shared SR or PBD.
  await ca.call('pool.eject', ref(b));
  assert.equal(pbdsOf(a, sr).has(ref(b)), false);
  await waitFor('b standalone', () => b.manager!.svc.pool!.isMaster() && b.manager!.db.count('host') === 1);
  const bdb = b.manager!.db;
  assert.equal(bdb.get('SR', sr), undefined, 'the shared SR stays with the pool');
  for (const p of bdb.all('PBD').values()) assert.ok(bdb.get('SR', String(p.SR)), 'no PBD of a gone SR');
});

test('a slave that takes over in an emergency starts its storage', { timeout: 90_000 }, async (t) => {
  const { members } = await startPoolHosts(t, [{ srRoots: [] }, { srRoots: [] }]);
  const [m, a] = members;
  await (await a.client()).call('pool.join', m.address, 'root', m.rootPassword);
  await waitFor('a has the 2 hosts', () => a.manager!.db.count('host') === 2);
  // Restarted as a slave: no storage.
  await a.close();
  await a.open();
  assert.equal(a.manager!.svc.storageDrivers, undefined);
  await m.close();
  await m.stopAgent();
  const ea = new XenApiClient({ url: a.url });
  const local = (await ea.raw('session.slave_local_login_with_password', ['root', a.rootPassword])) as string;
  await ea.raw('pool.emergency_transition_to_master', [local]);
  await waitFor('storage started on a', () => a.manager!.svc.storageDrivers !== undefined, 30_000);
  const ca = await a.client();
  // a's own local SR (its default SR before the join) works again: a VDI made by a's agent.
  const adb = a.manager!.db;
  const pbd = [...adb.all('PBD').values()].find((p) => p.host === a.manager!.svc.hostRef())!;
  assert.equal(pbd.currently_attached, true);
  const sr = String(pbd.SR) as never;
  const vdi = await ca.call('VDI.create', vdiRec(sr, 'after-takeover'));
  assert.ok(await ca.call('VDI.get_uuid', vdi));
});

test('a join undone after the import removes the joiner PBDs of shared SRs', {
  timeout: 60_000,
}, async (t) => {
  const shared = tempDir(t, 'berth-pool-shared-undo-');
  const { members } = await startPoolHosts(t, [{ srRoots: [shared] }, { srRoots: [shared] }]);
  const [m, j] = members;
  const cm = await m.client();
  const mRef = m.manager!.svc.hostRef();
  const sr = await cm.call(
    'SR.create',
    mRef,
    { location: join(shared, 'sr') },
    0,
    's',
    '',
    'file',
    '',
    true,
    {},
  );
  // The master imports, then cannot serve the joiner its database: the join is undone.
  const pool = m.manager!.svc.pool! as PoolService & { dump: PoolService['dump'] };
  pool.dump = async () => {
    throw new XenApiError('INTERNAL_ERROR', ['injected: no dump']);
  };
  await expectError(
    (await j.client()).call('pool.join', m.address, 'root', m.rootPassword),
    'INTERNAL_ERROR',
  );
  assert.deepEqual([...pbdsOf(m, sr).keys()], [mRef], 'only the master PBD is left');
  assert.equal(m.manager!.db.count('host'), 1);
});
