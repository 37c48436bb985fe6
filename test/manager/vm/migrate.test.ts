// VM.pool_migrate on the manager side (src/manager/vm/migrate.ts), with stand-in agents whose
// migration procedures follow a script: the options map, the checks in xapi's order, the calls
// each end gets, the switch-over (resident_on, console, reservation, message), a failure and a
// task.cancel leaving the VM on the source with both ends finished as failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiError } from '../../../src/shared/errors.js';
import type {
  AcceptOptions,
  IncomingMigration,
  MigrationParams,
  MigrationProcedures,
  MigrationStatus,
} from '../../../src/shared/host/migration.js';
import type { InstanceSpec } from '../../../src/manager/vm/host-agent.js';
import {
  consoleLocationOn,
  DEFAULT_DOWNTIME_MS,
  parseMigrateOptions,
  taskProgress,
} from '../../../src/manager/vm/migrate.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { harness, RecordingAgent } from '../setters/harness.js';
import { xe } from '../cli/harness.js';

const status = (phase: MigrationStatus['phase'], progress = 0, error?: string): MigrationStatus => ({
  phase,
  progress,
  ramTotal: 100,
  ramTransferred: progress * 100,
  ramRemaining: 100 - progress * 100,
  diskTransferred: 0,
  diskTotal: 0,
  error,
});

/** Migration procedures that record their calls; the source's status follows `script`. */
class ScriptedMigration implements MigrationProcedures {
  calls: [string, ...unknown[]][] = [];
  accepted?: { spec: InstanceSpec; opts: AcceptOptions };
  aborted = false;
  constructor(
    private readonly script: (n: number, aborted: boolean) => MigrationStatus = () => status('completed', 1),
  ) {}
  private polls = 0;
  async instance_migration_accept(spec: InstanceSpec, opts: AcceptOptions): Promise<IncomingMigration> {
    this.calls.push(['accept', spec.uuid, opts.address]);
    this.accepted = { spec, opts };
    return { transport: 'tls', address: opts.address, port: 49152 };
  }
  async instance_migrate(uuid: string, target: IncomingMigration, params: MigrationParams) {
    this.calls.push(['migrate', uuid, target.port, params]);
  }
  async instance_migration_status(): Promise<MigrationStatus> {
    return this.script(this.polls++, this.aborted);
  }
  async instance_migration_abort(uuid: string) {
    this.calls.push(['abort', uuid]);
    this.aborted = true;
  }
  async instance_migration_finish_dst(uuid: string, ok: boolean) {
    this.calls.push(['finish_dst', uuid, ok]);
    return { uuid, state: 'running' as const, memoryBytes: 64 * 1024 * 1024 };
  }
  async instance_migration_finish_src(uuid: string, ok: boolean) {
    this.calls.push(['finish_src', uuid, ok]);
  }
  async instance_disk_mirror() {}
}

async function pool(
  t: Parameters<typeof harness>[0],
  script?: ConstructorParameters<typeof ScriptedMigration>[0],
) {
  process.env.BERTH_MIGRATE_POLL_MS ??= '20';
  const h = await harness(t);
  const { svc } = h.m.manager;
  const a = svc.hostRef();
  const b = addTestHost(svc.db, 'migrate-host-b', { address: '192.0.2.2' });
  const agentB = withoutStorage(new RecordingAgent());
  svc.hosts.attach(b, agentB);
  const srcM = new ScriptedMigration(script);
  const dstM = new ScriptedMigration();
  (h.agent as unknown as { migration: MigrationProcedures }).migration = srcM;
  (agentB as unknown as { migration: MigrationProcedures }).migration = dstM;
  const vm = await h.newVm();
  await h.call('VM.start_on', vm, a, false, false);
  return { ...h, a, b, vm, srcM, dstM, uuid: String(h.record('VM', vm).uuid) };
}

const waitUntil = async (pred: () => boolean, what: string) => {
  const end = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('the options map: xapi keys and berth_ keys, bad numbers refused', () => {
  assert.deepEqual(parseMigrateOptions({}), {
    live: true,
    force: false,
    downtimeMs: DEFAULT_DOWNTIME_MS,
    bandwidth: 0,
  });
  const o = parseMigrateOptions({
    live: 'false',
    force: 'true',
    compress: 'true',
    berth_downtime_ms: '50',
    berth_bandwidth: '1048576',
  });
  assert.deepEqual(o, { live: false, force: true, downtimeMs: 50, bandwidth: 1048576 });
  assert.equal(parseMigrateOptions({ live: 'TRUE' }).live, true);
  for (const [k, v] of [
    ['berth_downtime_ms', '0'],
    ['berth_downtime_ms', 'soon'],
    ['berth_bandwidth', '-1'],
    ['berth_bandwidth', '1.5'],
    ['berth_bandwidth', ''],
  ])
    assert.throws(
      () => parseMigrateOptions({ [k]: v }),
      (e: unknown) => e instanceof XenApiError && e.code === 'INVALID_VALUE' && e.params[0] === k,
    );
});

test('pure helpers: progress stays below 1 until the switch-over; consoles move host', () => {
  assert.equal(taskProgress(status('active', 0.5)), 0.5);
  assert.equal(taskProgress(status('completed', 1)), 0.99);
  assert.equal(
    consoleLocationOn('https://10.0.0.1/console?ref=OpaqueRef:x', '10.0.0.2'),
    'https://10.0.0.2/console?ref=OpaqueRef:x',
  );
  assert.equal(consoleLocationOn('not a url', '10.0.0.2'), 'not a url');
});

test('VM.pool_migrate: accept on the destination, migrate on the source, switch-over', async (t) => {
  const h = await pool(t, (n) => (n < 2 ? status('active', 0.4) : status('completed', 1)));
  assert.ok(h.record('VM', h.vm).allowed_operations.includes('pool_migrate'), 'offered while running');
  const task = await h.call('Async.VM.pool_migrate', h.vm, h.b, {
    berth_downtime_ms: '120',
    berth_bandwidth: '5000',
  });
  await waitUntil(() => h.record('task', task).status !== 'pending', 'the task ends');
  assert.equal(h.record('task', task).status, 'success', JSON.stringify(h.record('task', task).error_info));
  assert.equal(h.record('task', task).progress, 1);
  assert.deepEqual(h.dstM.calls, [
    ['accept', h.uuid, '192.0.2.2'],
    ['finish_dst', h.uuid, true],
  ]);
  assert.deepEqual(h.srcM.calls, [
    ['migrate', h.uuid, 49152, { live: true, downtimeMs: 120, bandwidth: 5000 }],
    ['finish_src', h.uuid, true],
  ]);
  assert.deepEqual(h.dstM.accepted?.opts.mirror, []);
  const rec = h.record('VM', h.vm);
  assert.equal(rec.resident_on, h.b);
  assert.ok(h.record('host', h.b).resident_VMs.includes(h.vm));
  assert.ok(!h.record('host', h.a).resident_VMs.includes(h.vm));
  assert.equal(rec.power_state, 'Running');
  assert.equal(rec.scheduled_to_be_resident_on, 'OpaqueRef:NULL');
  assert.deepEqual(rec.current_operations, {});
  assert.match(h.record('console', rec.consoles[0]).location, /^https:\/\/192\.0\.2\.2\/console/);
  const msgs = [...h.m.manager.db.all('message').values()].filter((m) => m.obj_uuid === h.uuid);
  assert.deepEqual(
    msgs.map((m) => [m.name, m.priority]),
    [['VM_MIGRATED', 5]],
  );
  // And back, over the same procedures the other way round (the destination then the source).
  h.srcM.calls = [];
  h.dstM.calls = [];
  (h.agent as unknown as { migration: MigrationProcedures }).migration = h.dstM;
  const agentB = h.m.manager.svc.hosts.get(h.b) as unknown as { migration: MigrationProcedures };
  agentB.migration = new ScriptedMigration();
  await h.call('VM.pool_migrate', h.vm, h.a, {});
  assert.equal(h.record('VM', h.vm).resident_on, h.a);
});

test('a failed migration: VM_MIGRATE_FAILED with uuids, the VM stays on the source', async (t) => {
  const h = await pool(t, (n) => (n < 1 ? status('active', 0.2) : status('failed', 0.2, 'socket closed')));
  const err = await h.failure('VM.pool_migrate', h.vm, h.b, {});
  const uuidOf = (ref: string) => String(h.record('host', ref).uuid);
  assert.deepEqual(err, ['VM_MIGRATE_FAILED', h.uuid, uuidOf(h.a), uuidOf(h.b), 'socket closed']);
  assert.deepEqual(h.dstM.calls.at(-1), ['finish_dst', h.uuid, false]);
  assert.deepEqual(h.srcM.calls.at(-1), ['finish_src', h.uuid, false]);
  const rec = h.record('VM', h.vm);
  assert.equal(rec.resident_on, h.a);
  assert.equal(rec.power_state, 'Running');
  assert.equal(rec.scheduled_to_be_resident_on, 'OpaqueRef:NULL');
  assert.deepEqual(rec.current_operations, {});
});

test('task.cancel mid-way aborts on the source: TASK_CANCELLED, the VM stays; other ops wait', async (t) => {
  const h = await pool(t, (_n, aborted) => (aborted ? status('cancelled', 0.3) : status('active', 0.3)));
  const task = await h.call('Async.VM.pool_migrate', h.vm, h.b, {});
  await waitUntil(() => h.record('task', task).progress >= 0.3, 'progress on the task');
  assert.deepEqual(h.record('VM', h.vm).current_operations, { [task]: 'pool_migrate' });
  assert.equal(h.record('VM', h.vm).scheduled_to_be_resident_on, h.b, 'memory reserved on the destination');
  const busy = await h.failure('VM.clean_shutdown', h.vm);
  assert.equal(busy[0], 'OTHER_OPERATION_IN_PROGRESS');
  await h.call('task.cancel', task);
  await waitUntil(
    () => h.record('task', task).status !== 'pending' && h.record('task', task).status !== 'cancelling',
    'the task ends',
  );
  assert.equal(h.record('task', task).status, 'cancelled');
  assert.deepEqual(h.record('task', task).error_info, ['TASK_CANCELLED', task]);
  assert.ok(h.srcM.calls.some(([c]) => c === 'abort'));
  assert.deepEqual(h.dstM.calls.at(-1), ['finish_dst', h.uuid, false]);
  assert.deepEqual(h.srcM.calls.at(-1), ['finish_src', h.uuid, false]);
  const rec = h.record('VM', h.vm);
  assert.equal(rec.resident_on, h.a);
  assert.equal(rec.scheduled_to_be_resident_on, 'OpaqueRef:NULL');
  assert.deepEqual(rec.current_operations, {});
});

test('checks in xapi order before anything moves', async (t) => {
  const h = await pool(t);
  const { db } = h.m.manager;
  const halted = await h.newVm();
  assert.deepEqual(await h.failure('VM.pool_migrate', halted, h.b, {}), [
    'VM_BAD_POWER_STATE',
    halted,
    'running',
    'halted',
  ]);
  await h.call('VM.pause', h.vm);
  assert.deepEqual(await h.failure('VM.pool_migrate', h.vm, h.b, {}), [
    'VM_BAD_POWER_STATE',
    h.vm,
    'running',
    'paused',
  ]);
  await h.call('VM.unpause', h.vm);
  db.update('host', h.b, { enabled: false });
  assert.deepEqual(await h.failure('VM.pool_migrate', h.vm, h.b, {}), ['HOST_DISABLED', h.b]);
  db.update('host', h.b, { enabled: true });
  db.update('host_metrics', String(db.mustGet('host', h.b).metrics), { memory_total: 64 * 1024 * 1024 });
  assert.equal((await h.failure('VM.pool_migrate', h.vm, h.b, {}))[0], 'HOST_NOT_ENOUGH_FREE_MEMORY');
  db.update('host_metrics', String(db.mustGet('host', h.b).metrics), { memory_total: 8 * 1024 ** 3 });
  const { hosts } = h.m.manager.svc;
  const agentB = hosts.peek(h.b)!;
  hosts.detach(h.b);
  assert.deepEqual(await h.failure('VM.pool_migrate', h.vm, h.b, {}), ['HOST_OFFLINE', h.b]);
  hosts.attach(h.b, agentB);
  // Nothing was asked of any agent, and the VM did not move.
  assert.deepEqual(h.srcM.calls, []);
  assert.deepEqual(h.dstM.calls, []);
  assert.equal(h.record('VM', h.vm).resident_on, h.a);
  // Within one host (a disabled one too), no VIFs: over a Unix socket (address '').
  db.update('host', h.a, { enabled: false });
  await h.call('VM.pool_migrate', h.vm, h.a, {});
  assert.deepEqual(h.srcM.calls[0], ['accept', h.uuid, '']);
});

test('xe vm-migrate: host= by name or uuid, live only when given, storage migration refused', async (t) => {
  const h = await pool(t);
  await h.call('VM.set_name_label', h.vm, 'xe-migrant');
  const hostUuid = String(h.record('host', h.b).uuid);
  const ok = await xe(h.m, ['vm-migrate', 'vm=xe-migrant', 'host=migrate-host-b']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(h.record('VM', h.vm).resident_on, h.b);
  assert.deepEqual(h.srcM.calls[0], [
    'migrate',
    h.uuid,
    49152,
    { live: true, downtimeMs: 300, bandwidth: 0 },
  ]);
  // Back with host-uuid= and live=false: the guest is paused for the copy.
  const back = new ScriptedMigration();
  (h.agent as unknown as { migration: MigrationProcedures }).migration = back;
  (h.m.manager.svc.hosts.get(h.b) as unknown as { migration: MigrationProcedures }).migration = back;
  const aUuid = String(h.record('host', h.a).uuid);
  const r = await xe(h.m, ['vm-migrate', `uuid=${h.uuid}`, `host-uuid=${aUuid}`, 'live=false']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(h.record('VM', h.vm).resident_on, h.a);
  assert.deepEqual(back.calls.find(([c]) => c === 'migrate')?.[3], {
    live: false,
    downtimeMs: 300,
    bandwidth: 0,
  });
  const noHost = await xe(h.m, ['vm-migrate', 'vm=xe-migrant']);
  assert.notEqual(noHost.code, 0);
  assert.match(noHost.stderr, /No destination host specified/);
  const remote = await xe(h.m, [
    'vm-migrate',
    'vm=xe-migrant',
    `host=${hostUuid}`,
    'remote-master=192.0.2.9',
  ]);
  assert.notEqual(remote.code, 0);
  assert.match(remote.stderr, /remote-master .*not supported by Berth yet/);
  assert.equal(h.record('VM', h.vm).resident_on, h.a);
});

test("an agent's refusal: its VM_MIGRATE_FAILED gets the hosts' uuids, nothing is left behind", async (t) => {
  const h = await pool(t);
  h.dstM.instance_migration_accept = async (spec: InstanceSpec) => {
    h.dstM.calls.push(['accept', spec.uuid, 'refused']);
    throw new XenApiError('VM_MIGRATE_FAILED', [spec.uuid, '', '', 'no free migration port']);
  };
  const uuidOf = (ref: string) => String(h.record('host', ref).uuid);
  assert.deepEqual(await h.failure('VM.pool_migrate', h.vm, h.b, {}), [
    'VM_MIGRATE_FAILED',
    h.uuid,
    uuidOf(h.a),
    uuidOf(h.b),
    'no free migration port',
  ]);
  assert.deepEqual(h.dstM.calls, [
    ['accept', h.uuid, 'refused'],
    ['finish_dst', h.uuid, false],
  ]);
  assert.deepEqual(h.srcM.calls, [], 'the source was never asked');
  assert.equal(h.record('VM', h.vm).resident_on, h.a);
});
