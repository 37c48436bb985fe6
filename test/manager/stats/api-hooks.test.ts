// The RRD's journey with its VM (src/manager/stats/hooks.ts) and the master's archive
// (stats/archive.ts), with a stand-in agent whose statistics record the calls: take on halt and
// suspend, push before start and resume, take from the source and push to the destination on
// pool_migrate, leftovers taken at reconnection, and the archive surviving a manager restart.
// Statistics failing never fails the VM operation.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { FileRrdArchive } from '../../../src/manager/stats/archive.js';
import {
  dumpLastUpdate,
  leftoverIsNewer,
  statsAfterReconnect,
  statsSettled,
  vmRrdMove,
} from '../../../src/manager/stats/hooks.js';
import { XenApiError } from '../../../src/shared/errors.js';
import type { MigrationProcedures, MigrationStatus } from '../../../src/shared/host/migration.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { RecordingAgent } from '../setters/harness.js';
import { applyInstanceEvent, reconcile } from '../../../src/manager/vm/reconcile.js';
import type { InstanceInfo } from '../../../src/manager/vm/host-agent.js';
import { newVm, type Setup, setup } from './harness.js';
import { RecordingStats } from './recording-stats.js';

const settled = (s: Setup) => statsSettled(s.m.manager.svc);
const moves = (st: RecordingStats) => st.calls.filter(([n]) => n === 'push' || n === 'take');

test('vmRrdMove: take when a VM stops, move when it changes host, nothing otherwise', () => {
  assert.deepEqual(vmRrdMove('h1', null), { kind: 'take', host: 'h1' });
  assert.deepEqual(vmRrdMove('h1', 'h2'), { kind: 'move', from: 'h1', to: 'h2' });
  assert.deepEqual(vmRrdMove(null, 'h1'), { kind: 'none' });
  assert.deepEqual(vmRrdMove('h1', 'h1'), { kind: 'none' });
  assert.deepEqual(vmRrdMove(null, null), { kind: 'none' });
});

test('FileRrdArchive: gzip files per owner, atomic replace, confined uuids, idempotent remove', async (t) => {
  const root = join(tempDir(t), 'rrd');
  const a = new FileRrdArchive(root);
  const uuid = '0b4a6a4c-4ad5-4c8c-9c2c-1a2b3c4d5e6f';
  assert.equal(await a.read('vm', uuid), null);
  await a.write('vm', uuid, '<rrd>one</rrd>');
  await a.write('vm', uuid, '<rrd>two</rrd>');
  assert.equal(await a.read('vm', uuid), '<rrd>two</rrd>');
  const file = join(root, 'vm', `${uuid}.xml.gz`);
  assert.equal(gunzipSync(readFileSync(file)).toString(), '<rrd>two</rrd>');
  assert.deepEqual(readdirSync(join(root, 'vm')), [`${uuid}.xml.gz`], 'no temporary file left');
  assert.equal(await a.read('sr', uuid), null, 'owners are apart');
  for (const bad of ['../../etc/passwd', '', 'ABC', `${uuid}/x`, uuid.toUpperCase()])
    await assert.rejects(
      () => a.write('vm', bad, 'x'),
      (e: unknown) => e instanceof XenApiError && e.code === 'UUID_INVALID',
    );
  await a.remove('vm', uuid);
  await a.remove('vm', uuid);
  assert.equal(existsSync(file), false);
});

test('FileRrdArchive writes off the event loop: other work runs while the temp file exists', async (t) => {
  const root = join(tempDir(t), 'rrd');
  const a = new FileRrdArchive(root);
  const uuid = '0b4a6a4c-4ad5-4c8c-9c2c-1a2b3c4d5e6f';
  const dir = join(root, 'vm');
  // Polled once per event-loop turn: a synchronous open/write/fsync/rename is never seen mid-way.
  let sawTemp = false;
  let writing = true;
  const poll = () => {
    if (readdirSync(dir).some((n) => n !== `${uuid}.xml.gz`)) sawTemp = true;
    if (writing) setImmediate(poll);
  };
  setImmediate(poll);
  await a.write('vm', uuid, `<rrd>${'x'.repeat(1 << 20)}</rrd>`);
  writing = false;
  assert.ok(sawTemp, 'the event loop turned while the dump was being written');
  assert.deepEqual(readdirSync(dir), [`${uuid}.xml.gz`], 'no temporary file left');
  assert.equal((await a.read('vm', uuid))?.length, (1 << 20) + 11);
});

test('halt takes the RRD into the archive, start pushes it back; suspend/resume likewise', async (t) => {
  const s = await setup(t);
  const { vm, uuid } = await newVm(s);
  await s.call('VM.start', vm, false, false);
  await settled(s);
  assert.deepEqual(moves(s.stats), [], 'nothing archived: no push');
  // The agent samples the running VM: it now holds an RRD for it.
  s.stats.held.set(`vm:${uuid}`, '<rrd>first run</rrd>');
  await s.call('VM.hard_shutdown', vm);
  await settled(s);
  assert.deepEqual(moves(s.stats), [['take', 'vm', uuid, true]]);
  assert.equal(s.stats.held.size, 0, 'the agent forgot it');
  assert.equal(await s.m.manager.svc.rrdArchive!.read('vm', uuid), '<rrd>first run</rrd>');

  s.stats.calls = [];
  await s.call('VM.start', vm, false, false);
  await settled(s);
  assert.deepEqual(moves(s.stats), [['push', 'vm', uuid, '<rrd>first run</rrd>']]);

  s.stats.calls = [];
  s.stats.held.set(`vm:${uuid}`, '<rrd>second run</rrd>');
  await s.call('VM.suspend', vm);
  await settled(s);
  assert.deepEqual(moves(s.stats), [['take', 'vm', uuid, true]]);
  await s.call('VM.resume', vm, false, false);
  await settled(s);
  assert.deepEqual(moves(s.stats), [
    ['take', 'vm', uuid, true],
    ['push', 'vm', uuid, '<rrd>second run</rrd>'],
  ]);

  // A clean shutdown reported by the agent (guest powered off) is a stop too.
  s.stats.calls = [];
  s.stats.held.set(`vm:${uuid}`, '<rrd>third run</rrd>');
  await s.call('VM.clean_shutdown', vm);
  await settled(s);
  assert.deepEqual(moves(s.stats), [['take', 'vm', uuid, true]]);

  await s.call('VM.destroy', vm);
  await settled(s);
  assert.equal(await s.m.manager.svc.rrdArchive!.read('vm', uuid), null, 'destroyed with its VM');
});

test('the archive survives a manager restart: the next start pushes the old RRD', async (t) => {
  const dataDir = tempDir(t);
  const s1 = await setup(t, dataDir);
  const { vm, uuid } = await newVm(s1);
  await s1.call('VM.start', vm, false, false);
  s1.stats.held.set(`vm:${uuid}`, '<rrd>before the restart</rrd>');
  await s1.call('VM.hard_shutdown', vm);
  await settled(s1);
  await s1.m.manager.close();

  const s2 = await setup(t, dataDir);
  await s2.call('VM.start', vm, false, false);
  await settled(s2);
  assert.deepEqual(moves(s2.stats), [['push', 'vm', uuid, '<rrd>before the restart</rrd>']]);
  assert.equal(s2.stats.held.get(`vm:${uuid}`), '<rrd>before the restart</rrd>');
});

test('statistics failing never fails a VM operation', async (t) => {
  const s = await setup(t);
  const { vm, uuid } = await newVm(s);
  await s.m.manager.svc.rrdArchive!.write('vm', uuid, '<rrd>archived</rrd>');
  s.stats.failWith = new Error('statistics are broken');
  await s.call('VM.start', vm, false, false);
  await s.call('VM.hard_shutdown', vm);
  await settled(s);
  assert.equal(s.m.manager.db.mustGet('VM', vm).power_state, 'Halted');
  assert.deepEqual(
    moves(s.stats).map(([n]) => n),
    ['push', 'take'],
  );
  assert.equal(await s.m.manager.svc.rrdArchive!.read('vm', uuid), '<rrd>archived</rrd>', 'kept');
});

test('reconnection: settings sent, leftovers of stopped VMs archived, stale ones dropped', async (t) => {
  const s = await setup(t);
  const { svc, db } = s.m.manager;
  const stopped = await newVm(s);
  const running = await newVm(s);
  await s.call('VM.start', running.vm, false, false);
  await s.call('pool.add_to_other_config', svc.poolRef(), 'create_min_max_in_new_VM_RRDs', 'true');
  await settled(s);
  s.stats.calls = [];
  const gone = '5d7c3a38-0e6b-4f7e-8d0c-000000000001';
  s.stats.held.set(`vm:${stopped.uuid}`, '<rrd>left over</rrd>');
  s.stats.held.set(`vm:${running.uuid}`, '<rrd>live</rrd>');
  s.stats.held.set(`vm:${gone}`, '<rrd>orphan</rrd>');
  await statsAfterReconnect(svc, svc.hostRef());
  await settled(s);
  assert.deepEqual(s.stats.calls[0], ['configure', { createMinMaxInNewVmRrds: true }]);
  assert.equal(await svc.rrdArchive!.read('vm', stopped.uuid), '<rrd>left over</rrd>');
  assert.equal(await svc.rrdArchive!.read('vm', gone).catch(() => null), null);
  assert.deepEqual([...s.stats.held.keys()], [`vm:${running.uuid}`], 'the running VM keeps its RRD');
  assert.equal(db.mustGet('VM', running.vm).power_state, 'Running');
});

test('reconnection: a leftover older than the archived dump is dropped, a newer one archived', async (t) => {
  const s = await setup(t);
  const { svc } = s.m.manager;
  const older = await newVm(s);
  const newer = await newVm(s);
  const dump = (t: number, what: string) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<rrd><version>0003</version><step>5</step><lastupdate>${t}</lastupdate><!--${what}--></rrd>`;
  // The archive got both VMs' history up to 2000 (they ran and stopped elsewhere meanwhile).
  await svc.rrdArchive!.write('vm', older.uuid, dump(2000, 'archived'));
  await svc.rrdArchive!.write('vm', newer.uuid, dump(2000, 'archived'));
  s.stats.held.set(`vm:${older.uuid}`, dump(1000, 'stale leftover'));
  s.stats.held.set(`vm:${newer.uuid}`, dump(3000, 'newer leftover'));
  await statsAfterReconnect(svc, svc.hostRef());
  await settled(s);
  assert.equal(await svc.rrdArchive!.read('vm', older.uuid), dump(2000, 'archived'));
  assert.equal(await svc.rrdArchive!.read('vm', newer.uuid), dump(3000, 'newer leftover'));
  assert.equal(s.stats.held.size, 0, 'both leftovers leave the agent');
});

test('dumpLastUpdate and leftoverIsNewer', () => {
  const d = (t: string) => `<rrd><version>0003</version><step>5</step><lastupdate>${t}</lastupdate></rrd>`;
  assert.equal(dumpLastUpdate(d('1700000000')), 1700000000);
  assert.equal(dumpLastUpdate(d('1700000000.25')), 1700000000.25);
  assert.equal(dumpLastUpdate('<rrd>none</rrd>'), undefined);
  assert.equal(leftoverIsNewer(d('5'), null), true);
  assert.equal(leftoverIsNewer(d('5'), d('6')), false);
  assert.equal(leftoverIsNewer(d('6'), d('6')), false);
  assert.equal(leftoverIsNewer(d('7'), d('6')), true);
  assert.equal(leftoverIsNewer('<rrd/>', d('6')), false, 'no time: the archive stands');
  assert.equal(leftoverIsNewer(d('7'), '<rrd/>'), true);
});

test('a pool setting change reaches the agents', async (t) => {
  const s = await setup(t);
  const { svc } = s.m.manager;
  await s.call('pool.add_to_other_config', svc.poolRef(), 'create_min_max_in_new_VM_RRDs', 'true');
  await s.call('pool.remove_from_other_config', svc.poolRef(), 'create_min_max_in_new_VM_RRDs');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    s.stats.calls.filter(([n]) => n === 'configure'),
    [
      ['configure', { createMinMaxInNewVmRrds: true }],
      ['configure', { createMinMaxInNewVmRrds: false }],
    ],
  );
});

/** Migration procedures that complete at once (the manager-side switch-over is what matters). */
function instantMigration(): MigrationProcedures {
  const done: MigrationStatus = {
    phase: 'completed',
    progress: 1,
    ramTotal: 1,
    ramTransferred: 1,
    ramRemaining: 0,
    diskTransferred: 0,
    diskTotal: 0,
  };
  return {
    instance_migration_accept: async (_spec, opts) => ({
      transport: 'tls',
      address: opts.address,
      port: 49152,
    }),
    instance_migrate: async () => undefined,
    instance_migration_status: async () => done,
    instance_migration_abort: async () => undefined,
    instance_migration_finish_dst: async (uuid) => ({
      uuid,
      state: 'running',
      memoryBytes: 64 * 1024 * 1024,
    }),
    instance_migration_finish_src: async () => undefined,
    instance_disk_mirror: async () => undefined,
  } as MigrationProcedures;
}

test('pool_migrate: the RRD is taken from the source and pushed to the destination', async (t) => {
  process.env.BERTH_MIGRATE_POLL_MS ??= '20';
  const s = await setup(t);
  const { svc } = s.m.manager;
  const a = svc.hostRef();
  const b = addTestHost(svc.db, 'stats-host-b', { address: '192.0.2.2' });
  const agentB = withoutStorage(new RecordingAgent());
  const statsB = new RecordingStats();
  (agentB as unknown as { stats: RecordingStats }).stats = statsB;
  svc.hosts.attach(b, agentB);
  (s.agent as unknown as { migration: MigrationProcedures }).migration = instantMigration();
  (agentB as unknown as { migration: MigrationProcedures }).migration = instantMigration();
  const { vm, uuid } = await newVm(s);
  await s.call('VM.start_on', vm, a, false, false);
  s.stats.held.set(`vm:${uuid}`, '<rrd>on a</rrd>');
  s.stats.calls = [];
  await s.call('VM.pool_migrate', vm, b, {});
  await settled(s);
  assert.equal(svc.db.mustGet('VM', vm).resident_on, b);
  assert.deepEqual(moves(s.stats), [['take', 'vm', uuid, true]]);
  assert.deepEqual(moves(statsB), [['push', 'vm', uuid, '<rrd>on a</rrd>']]);
  assert.equal(statsB.held.get(`vm:${uuid}`), '<rrd>on a</rrd>');
  assert.equal(s.stats.held.size, 0);
  // It stops on b: b's agent gives it up to the archive.
  await s.call('VM.hard_shutdown', vm);
  await settled(s);
  assert.deepEqual(moves(statsB).at(-1), ['take', 'vm', uuid, true]);
  assert.equal(await svc.rrdArchive!.read('vm', uuid), '<rrd>on a</rrd>');
});

test('an SR detached from its last host leaves its RRD in the archive, gets it back when attached', async (t) => {
  const s = await setup(t);
  const { svc, db } = s.m.manager;
  const [pbd, row] = [...db.all('PBD')].find(([, p]) => p.currently_attached === true)!;
  const uuid = String(db.mustGet('SR', String(row.SR)).uuid);
  s.stats.held.set(`sr:${uuid}`, '<rrd>sr</rrd>');
  s.stats.calls = [];
  db.transaction(() => db.update('PBD', pbd, { currently_attached: false }));
  await settled(s);
  assert.deepEqual(moves(s.stats), [['take', 'sr', uuid, true]]);
  assert.equal(await svc.rrdArchive!.read('sr', uuid), '<rrd>sr</rrd>');
  db.transaction(() => db.update('PBD', pbd, { currently_attached: true }));
  await settled(s);
  assert.deepEqual(moves(s.stats).at(-1), ['push', 'sr', uuid, '<rrd>sr</rrd>']);
});

test('a crash the agent reports, and a VM found dead at reconciliation, archive the RRD', async (t) => {
  const s = await setup(t);
  const { svc, db } = s.m.manager;
  const a = await newVm(s);
  const b = await newVm(s);
  db.transaction(() => db.update('VM', a.vm, { actions_after_crash: 'destroy' }));
  await s.call('VM.start', a.vm, false, false);
  await s.call('VM.start', b.vm, false, false);
  s.stats.held.set(`vm:${a.uuid}`, '<rrd>crashed</rrd>');
  s.stats.held.set(`vm:${b.uuid}`, '<rrd>gone</rrd>');
  applyInstanceEvent(svc, { uuid: a.uuid, state: 'crashed', reason: 'guest-panic' }, async () => undefined);
  reconcile(svc, [{ uuid: a.uuid, state: 'absent' } as InstanceInfo]);
  await settled(s);
  assert.equal(db.mustGet('VM', a.vm).power_state, 'Halted');
  assert.equal(db.mustGet('VM', b.vm).power_state, 'Halted');
  assert.equal(await svc.rrdArchive!.read('vm', a.uuid), '<rrd>crashed</rrd>');
  assert.equal(await svc.rrdArchive!.read('vm', b.uuid), '<rrd>gone</rrd>');
  assert.equal(s.stats.held.size, 0);
});
