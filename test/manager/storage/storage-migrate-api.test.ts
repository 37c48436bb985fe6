// Storage migration through the API on a manager with two hosts, each with a real agent's storage
// (its own file SR) and a stand-in for instances whose migration procedures copy the mirrored
// disks with qemu-img (what the destination QEMU's NBD server receives): VM.migrate_send moves
// the disks to the other host's SR and switches the records, a failed migration leaves
// everything as it was, VDI.pool_migrate moves one disk (running: the guest's own mirror;
// halted: a copy), host.migrate_receive hands out xapi's dest map.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { vmDisks } from '../../../src/manager/storage/vm-disks.js';
import type { HostAgent, InstanceSpec } from '../../../src/manager/vm/host-agent.js';
import { runChecked } from '../../../src/shared/exec.js';
import type { MigrationProcedures, MigrationStatus } from '../../../src/shared/host/migration.js';
import { hasPattern, writePattern } from '../../agent/storage/helpers.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';
import { startTestAgent, withRealStorage } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { FakeAgent } from '../vm/fake-agent.js';
import { startManager } from '../../helpers/manager.js';
import { xe } from '../cli/harness.js';
import { code, imageOf, type StorageManager } from './harness.js';

/** A record's uuid. */
const uuidOf = (
  h: { db: { mustGet(c: string, r: string): Record<string, unknown> } },
  cls: string,
  ref: string,
) => String(h.db.mustGet(cls, ref).uuid);

/** A VDI's image file (imageOf reads only records through `call`). */
const image = (h: { m: unknown }, vdi: string) => imageOf(h.m as StorageManager, vdi);

const MiB = 1024 * 1024;

/** Migration procedures of a stand-in: the calls, and the mirror done by qemu-img. */
function fakeMigration(
  calls: unknown[][],
  opts: { sourceOf?: (device: string) => string; fail?: string } = {},
): MigrationProcedures {
  let status: MigrationStatus['phase'] = 'none';
  return {
    async instance_migration_accept(spec, o) {
      calls.push(['accept', spec, o]);
      return { transport: 'tls', address: o.address, port: 49152 };
    },
    async instance_migrate(uuid, _target, params) {
      calls.push(['migrate', uuid, params]);
      status = opts.fail ? 'failed' : 'completed';
    },
    async instance_migration_status() {
      return {
        phase: status,
        progress: 1,
        ramTotal: 0,
        ramTransferred: 0,
        ramRemaining: 0,
        diskTransferred: 0,
        diskTotal: 0,
        error: opts.fail,
      };
    },
    async instance_migration_abort(uuid) {
      calls.push(['abort', uuid]);
    },
    async instance_migration_finish_dst(uuid, ok) {
      calls.push(['finish_dst', uuid, ok]);
      return { uuid, state: ok ? 'running' : 'absent' };
    },
    async instance_migration_finish_src(uuid, ok) {
      calls.push(['finish_src', uuid, ok]);
    },
    async instance_disk_mirror(uuid, device, target) {
      calls.push(['disk_mirror', uuid, device, target]);
      if (opts.fail) throw new Error(opts.fail);
      await runChecked('qemu-img', [
        'convert',
        '-n',
        '-O',
        target.format,
        opts.sourceOf!(device),
        target.path,
      ]);
    },
  };
}

/** Gives a stand-in agent (withRealStorage: its migration fails) the fake migration procedures. */
const setMigration = (agent: HostAgent, m: MigrationProcedures) => {
  (agent as unknown as { migration: MigrationProcedures }).migration = m;
};

async function twoHosts(t: TestContext) {
  const tm = await startManager(t, { agent: new FakeAgent() });
  const { svc, db } = tm.manager;
  const session = svc.sessions.validate(svc.sessions.localLogin('storage-migrate-test'));
  const m = {
    ...tm,
    session,
    call: <T = any>(wire: string, ...args: unknown[]) => svc.call(session, wire, args) as Promise<T>,
  };
  const a = svc.hostRef();
  const b = addTestHost(db, 'storage-migrate-b', { address: '192.0.2.2' });
  const agentBDir = tempDir(t, 'berth-sm-b-');
  const realB = (await startTestAgent(t, { stateRoot: agentBDir })).client;
  realB.connect();
  const agentB = withRealStorage(new FakeAgent(), realB);
  svc.hosts.attach(b, agentB);
  const srA = await m.call<string>('pool.get_default_SR', (await m.call<string[]>('pool.get_all'))[0]);
  const srB = await m.call<string>(
    'SR.create',
    b,
    { location: join(agentBDir, 'sr', 'local-b') },
    0,
    'local B',
    '',
    'file',
    '',
    false,
    {},
  );
  const agentA = svc.hosts.get(a);
  return { m, svc, db, a, b, srA, srB, agentA, agentB, agentBDir };
}

/** A VM with a 32 MiB data disk on `sr` holding pattern 0x5a in its second MiB, started on `host`. */
async function vmWithDisk(h: Awaited<ReturnType<typeof twoHosts>>, sr: string, host: string) {
  const vm = await h.m.call<string>('VM.create', baseVmRecord({ name_label: 'sm' }));
  const vdi = await h.m.call<string>('VDI.create', vdiRecord(sr, 32 * MiB));
  const vbd = await h.m.call<string>('VBD.create', vbdRecord(vm, vdi));
  await writePattern(await image(h, vdi), 'qcow2', 0x5a, MiB, MiB);
  if (host) await h.m.call('VM.start_on', vm, host, false, false);
  return { vm, vdi, vbd };
}

test('host.migrate_receive: xapi dest map with a new session of the caller; errors', async (t) => {
  const h = await twoHosts(t);
  const net = await h.m.call<string>('network.create', { name_label: 'sm-net', other_config: {} });
  const dest = await h.m.call<Record<string, string>>('host.migrate_receive', h.b, net, {});
  assert.deepEqual(Object.keys(dest).sort(), ['SM', 'host', 'master', 'session_id', 'xenops']);
  assert.equal(dest.host, h.b);
  assert.match(dest.xenops, /^http:\/\/192\.0\.2\.2\/services\/xenops\?session_id=OpaqueRef/);
  assert.notEqual(dest.session_id, h.m.session.ref);
  assert.equal(h.svc.sessions.validate(dest.session_id).userName, h.m.session.userName);
  await assert.rejects(h.m.call('host.migrate_receive', 'OpaqueRef:nope', net, {}), code('HANDLE_INVALID'));
});

test('VM.migrate_send to another host: disks mirrored to its SR, VBDs on new VDIs, old volumes gone', async (t) => {
  const h = await twoHosts(t);
  const { vm, vdi, vbd } = await vmWithDisk(h, h.srA, h.a);
  const srcImage = await image(h, vdi);
  const calls: unknown[][] = [];
  // The destination's accept gets the new volume; the source "mirrors" into it.
  const dstCalls: unknown[][] = [];
  const mig = fakeMigration(calls);
  const dst = fakeMigration(dstCalls);
  dst.instance_migration_accept = async (spec, o) => {
    dstCalls.push(['accept', spec, o]);
    await runChecked('qemu-img', ['convert', '-n', '-O', 'qcow2', srcImage, spec.disks[0].path]);
    return { transport: 'tls', address: o.address, port: 49152 };
  };
  setMigration(h.agentA, mig);
  setMigration(h.agentB, dst);
  const net = await h.m.call<string>('network.create', { name_label: 'sm-net', other_config: {} });
  const dest = await h.m.call<Record<string, string>>('host.migrate_receive', h.b, net, {});

  // assert_can_migrate first: a disk missing from the map, a vif_map inside the pool.
  await assert.rejects(
    h.m.call('VM.assert_can_migrate', vm, dest, true, {}, {}, {}),
    code('VDI_NOT_IN_MAP', [vdi]),
  );
  await h.m.call('VM.assert_can_migrate', vm, dest, true, { [vdi]: h.srB }, {}, {});

  const result = await h.m.call<string>('VM.migrate_send', vm, dest, true, { [vdi]: h.srB }, {}, {});
  assert.equal(result, vm, 'within a pool the VM keeps its ref');
  const rec = await h.m.call<any>('VM.get_record', vm);
  assert.equal(rec.resident_on, h.b);
  assert.equal(rec.power_state, 'Running');
  const [, spec, acceptOpts] = dstCalls.find((c) => c[0] === 'accept')! as [string, InstanceSpec, any];
  assert.deepEqual(acceptOpts, { address: '192.0.2.2', mirror: [{ device: 'xvda' }] });
  assert.equal(spec.uuid, rec.uuid);
  const newVdi = await h.m.call<string>('VBD.get_VDI', vbd);
  assert.notEqual(newVdi, vdi, 'xapi: a new VDI on the destination SR');
  assert.equal(await h.m.call('VDI.get_SR', newVdi), h.srB);
  assert.equal(await h.m.call('VDI.get_virtual_size', newVdi), 32 * MiB);
  assert.equal(spec.disks[0].path, await image(h, newVdi));
  assert.ok(await hasPattern(spec.disks[0].path, 'qcow2', 0x5a, MiB, MiB), 'the data came along');
  assert.equal(h.db.has('VDI', vdi), false, 'the source VDI is destroyed');
  assert.equal(existsSync(srcImage), false, 'and its volume');
  assert.deepEqual(
    dstCalls.filter((c) => c[0] === 'finish_dst').map((c) => c[2]),
    [true],
  );
  assert.deepEqual(
    calls.filter((c) => c[0] === 'finish_src').map((c) => c[2]),
    [true],
  );
  assert.deepEqual(vmDisks(h.db, vm, h.b)[0].path, spec.disks[0].path);
});

test('VM.migrate_send that fails: VM_MIGRATE_FAILED, the guest stays, the new volume goes', async (t) => {
  const h = await twoHosts(t);
  const { vm, vdi, vbd } = await vmWithDisk(h, h.srA, h.a);
  const calls: unknown[][] = [];
  setMigration(h.agentA, fakeMigration(calls, { fail: 'the link went down' }));
  setMigration(h.agentB, fakeMigration(calls));
  const net = await h.m.call<string>('network.create', { name_label: 'sm-net', other_config: {} });
  const dest = await h.m.call<Record<string, string>>('host.migrate_receive', h.b, net, {});
  const before = (await h.m.call<string[]>('SR.get_VDIs', h.srB)).length;
  await assert.rejects(
    h.m.call('VM.migrate_send', vm, dest, true, { [vdi]: h.srB }, {}, {}),
    code('VM_MIGRATE_FAILED', [
      uuidOf(h, 'VM', vm),
      uuidOf(h, 'host', h.a),
      uuidOf(h, 'host', h.b),
      'the link went down',
    ]),
  );
  const rec = await h.m.call<any>('VM.get_record', vm);
  assert.equal(rec.resident_on, h.a);
  assert.equal(rec.scheduled_to_be_resident_on, 'OpaqueRef:NULL');
  assert.deepEqual(rec.current_operations, {});
  assert.equal(await h.m.call('VBD.get_VDI', vbd), vdi);
  assert.ok(await hasPattern(await image(h, vdi), 'qcow2', 0x5a, MiB, MiB));
  assert.equal((await h.m.call<string[]>('SR.get_VDIs', h.srB)).length, before, 'no new VDI left');
  assert.deepEqual(
    calls.filter((c) => String(c[0]).startsWith('finish')).map((c) => [c[0], c[2]]),
    [
      ['finish_dst', false],
      ['finish_src', false],
    ],
  );
  // Another pool's host in the dest map: refused, nothing happens.
  await assert.rejects(
    h.m.call('VM.migrate_send', vm, { ...dest, host: 'OpaqueRef:elsewhere' }, true, { [vdi]: h.srB }, {}, {}),
    code('VM_MIGRATE_FAILED'),
  );
  await assert.rejects(
    h.m.call('VM.migrate_send', vm, dest, true, { [vdi]: h.srB }, {}, { copy: 'true' }),
    code('OPERATION_NOT_ALLOWED'),
  );
});

test('VDI.pool_migrate: a running VM disk mirrored by its QEMU to another SR of its host; a halted one copied', async (t) => {
  const h = await twoHosts(t);
  const dataDir = h.m.dataDir;
  const sr2 = await h.m.call<string>(
    'SR.create',
    h.a,
    { location: join(dataDir, 'sr', 'second') },
    0,
    'second',
    '',
    'file',
    '',
    false,
    {},
  );
  const { vm, vdi, vbd } = await vmWithDisk(h, h.srA, h.a);
  const srcImage = await image(h, vdi);
  const calls: unknown[][] = [];
  setMigration(h.agentA, fakeMigration(calls, { sourceOf: () => srcImage }));
  const moved = await h.m.call<string>('VDI.pool_migrate', vdi, sr2, {});
  assert.notEqual(moved, vdi);
  assert.equal(await h.m.call('VBD.get_VDI', vbd), moved);
  assert.equal(await h.m.call('VDI.get_SR', moved), sr2);
  const [, uuid, device, target] = calls.find((c) => c[0] === 'disk_mirror')! as [
    string,
    string,
    string,
    any,
  ];
  assert.equal(uuid, await h.m.call('VM.get_uuid', vm));
  assert.equal(device, 'xvda');
  assert.deepEqual(target, { path: await image(h, moved), format: 'qcow2' });
  assert.ok(await hasPattern(target.path, 'qcow2', 0x5a, MiB, MiB));
  assert.equal(h.db.has('VDI', vdi), false);
  assert.equal(existsSync(srcImage), false);
  assert.equal(await h.m.call('VM.get_resident_on', vm), h.a, 'the VM did not move');

  // A mirror that fails: the disk stays, the new volume goes.
  setMigration(h.agentA, fakeMigration(calls, { fail: 'mirror broke' }));
  const before = (await h.m.call<string[]>('SR.get_VDIs', h.srA)).length;
  await assert.rejects(h.m.call('VDI.pool_migrate', moved, h.srA, {}));
  assert.equal(await h.m.call('VBD.get_VDI', vbd), moved);
  assert.equal((await h.m.call<string[]>('SR.get_VDIs', h.srA)).length, before);

  // Halted: a copy into the SR, the VBD follows, the old VDI goes.
  await h.m.call('VM.hard_shutdown', vm);
  const back = await h.m.call<string>('VDI.pool_migrate', moved, h.srA, {});
  assert.equal(await h.m.call('VBD.get_VDI', vbd), back);
  assert.equal(await h.m.call('VDI.get_SR', back), h.srA);
  assert.ok(await hasPattern(await image(h, back), 'qcow2', 0x5a, MiB, MiB));
  assert.equal(h.db.has('VDI', moved), false);
  // A VDI in no VM: xapi's VDI_NEEDS_VM_FOR_MIGRATE.
  const lone = await h.m.call<string>('VDI.create', vdiRecord(h.srA, MiB));
  await assert.rejects(h.m.call('VDI.pool_migrate', lone, sr2, {}), code('VDI_NEEDS_VM_FOR_MIGRATE', [lone]));
});

test('xe vm-migrate with vdi: maps and xe vdi-pool-migrate, as real xe', async (t) => {
  const h = await twoHosts(t);
  const { vm, vdi, vbd } = await vmWithDisk(h, h.srA, h.a);
  const srcImage = await image(h, vdi);
  const calls: unknown[][] = [];
  const dst = fakeMigration(calls);
  dst.instance_migration_accept = async (spec, o) => {
    await runChecked('qemu-img', ['convert', '-n', '-O', 'qcow2', srcImage, spec.disks[0].path]);
    return { transport: 'tls', address: o.address, port: 49152 };
  };
  setMigration(h.agentA, fakeMigration(calls));
  setMigration(h.agentB, dst);
  await h.m.call('network.create', { name_label: 'sm-net', other_config: {} });
  const u = (cls: string, ref: string) => h.m.call<string>(`${cls}.get_uuid`, ref);
  const vdiUuid = await u('VDI', vdi);
  const r = await xe(h.m, [
    'vm-migrate',
    `uuid=${await u('VM', vm)}`,
    `host=${await u('host', h.b)}`,
    `vdi:${vdiUuid}=${await u('SR', h.srB)}`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Performing a storage live migration\./);
  assert.match(r.stdout, new RegExp(`VDI ${vdiUuid} -> SR ${await u('SR', h.srB)}`));
  assert.equal(await h.m.call('VM.get_resident_on', vm), h.b);
  const moved = await h.m.call<string>('VBD.get_VDI', vbd);
  assert.equal(await h.m.call('VDI.get_SR', moved), h.srB);

  // Another pool's master: refused before anything happens.
  const remote = await xe(h.m, [
    'vm-migrate',
    `uuid=${await u('VM', vm)}`,
    'remote-master=203.0.113.9',
    'remote-username=root',
    'remote-password=x',
  ]);
  assert.notEqual(remote.code, 0);
  assert.match(remote.stderr, /cross-pool migration is not supported/);

  // xe vdi-pool-migrate prints the new VDI's uuid (here: a halted VM's disk, copied).
  await h.m.call('VM.hard_shutdown', vm);
  const second = await h.m.call<string>(
    'SR.create',
    h.b,
    { location: join(h.agentBDir, 'sr', 'second-b') },
    0,
    'second B',
    '',
    'file',
    '',
    false,
    {},
  );
  const p = await xe(h.m, [
    'vdi-pool-migrate',
    `uuid=${await u('VDI', moved)}`,
    `sr-uuid=${await u('SR', second)}`,
  ]);
  assert.equal(p.code, 0, p.stderr);
  const now = await h.m.call<string>('VBD.get_VDI', vbd);
  assert.equal(p.stdout.trim(), await u('VDI', now));
  assert.equal(await h.m.call('VDI.get_SR', now), second);
});

test('VM.migrate_send cancelled mid-mirror: TASK_CANCELLED, the guest stays, the new volume goes', async (t) => {
  const h = await twoHosts(t);
  const { vm, vdi, vbd } = await vmWithDisk(h, h.srA, h.a);
  const calls: unknown[][] = [];
  const src = fakeMigration(calls);
  let aborted = false;
  src.instance_migrate = async (uuid) => {
    calls.push(['migrate', uuid]);
  };
  src.instance_migration_status = async () => ({
    phase: aborted ? 'cancelled' : 'mirroring',
    progress: 0.1,
    ramTotal: 0,
    ramTransferred: 0,
    ramRemaining: 0,
    diskTransferred: MiB,
    diskTotal: 32 * MiB,
  });
  src.instance_migration_abort = async (uuid) => {
    calls.push(['abort', uuid]);
    aborted = true;
  };
  setMigration(h.agentA, src);
  setMigration(h.agentB, fakeMigration(calls));
  const net = await h.m.call<string>('network.create', { name_label: 'sm-net', other_config: {} });
  const dest = await h.m.call<Record<string, string>>('host.migrate_receive', h.b, net, {});
  const before = (await h.m.call<string[]>('SR.get_VDIs', h.srB)).length;
  const task = await h.m.call<string>('Async.VM.migrate_send', vm, dest, true, { [vdi]: h.srB }, {}, {});
  const until = async (what: string, f: () => Promise<boolean>) => {
    for (let i = 0; i < 200 && !(await f()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(await f(), what);
  };
  await until('mirroring under way', async () => calls.some((c) => c[0] === 'migrate'));
  await h.m.call('task.cancel', task);
  await until('the task ended', async () => (await h.m.call('task.get_status', task)) !== 'pending');
  assert.equal(await h.m.call('task.get_status', task), 'cancelled');
  assert.ok(calls.some((c) => c[0] === 'abort'));
  assert.equal(await h.m.call('VM.get_resident_on', vm), h.a);
  assert.equal(await h.m.call('VBD.get_VDI', vbd), vdi);
  assert.deepEqual(await h.m.call('VM.get_current_operations', vm), {});
  await until(
    'the new volume gone',
    async () => (await h.m.call<string[]>('SR.get_VDIs', h.srB)).length === before,
  );
});
