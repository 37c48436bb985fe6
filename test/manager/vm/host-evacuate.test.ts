// host.evacuate, host.get_vms_which_prevent_evacuation and host.assert_can_evacuate through the
// API and xe, on a manager with two hosts whose agents' migration procedures always succeed:
// nothing moves while any VM cannot (NO_HOSTS_AVAILABLE with the other host disabled, xapi's
// CANNOT_EVACUATE_HOST text), then every running guest moves and the task reaches 1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertMigrationNetwork } from '../../../src/manager/api/host-evacuate.js';
import type { Database } from '../../../src/manager/db/database.js';
import type { XenApiError } from '../../../src/shared/errors.js';
import type {
  AcceptOptions,
  IncomingMigration,
  MigrationProcedures,
  MigrationStatus,
} from '../../../src/shared/host/migration.js';
import type { InstanceSpec } from '../../../src/manager/vm/host-agent.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { xe } from '../cli/harness.js';
import { harness, RecordingAgent } from '../setters/harness.js';

const NULL = 'OpaqueRef:NULL';

/** Migration procedures that succeed at once and record which VMs they moved. */
class InstantMigration implements MigrationProcedures {
  migrated: string[] = [];
  async instance_migration_accept(_spec: InstanceSpec, opts: AcceptOptions): Promise<IncomingMigration> {
    return { transport: 'tls', address: opts.address, port: 49152 };
  }
  async instance_migrate(uuid: string) {
    this.migrated.push(uuid);
  }
  async instance_migration_status(): Promise<MigrationStatus> {
    const s = { ramTotal: 1, ramTransferred: 1, ramRemaining: 0, diskTransferred: 0, diskTotal: 0 };
    return { phase: 'completed', progress: 1, ...s };
  }
  async instance_migration_abort() {}
  async instance_migration_finish_dst(uuid: string) {
    return { uuid, state: 'running' as const, memoryBytes: 64 * 1024 * 1024 };
  }
  async instance_migration_finish_src() {}
  async instance_disk_mirror() {}
}

async function twoHosts(t: Parameters<typeof harness>[0]) {
  process.env.BERTH_MIGRATE_POLL_MS ??= '20';
  const h = await harness(t);
  const { svc } = h.m.manager;
  const a = svc.hostRef();
  const b = addTestHost(svc.db, 'evacuate-host-b', { address: '192.0.2.2' });
  const agentB = withoutStorage(new RecordingAgent());
  svc.hosts.attach(b, agentB);
  const moves = new InstantMigration();
  for (const agent of [h.agent, agentB])
    (agent as unknown as { migration: MigrationProcedures }).migration = moves;
  const vms: string[] = [];
  for (const name of ['evac-1', 'evac-2']) {
    const vm = await h.newVm({ name_label: name });
    await h.call('VM.start_on', vm, a, false, false);
    vms.push(vm);
  }
  return { ...h, a, b, vms, moves };
}

test('host.evacuate moves nothing while a VM cannot go, then every running guest', async (t) => {
  const h = await twoHosts(t);
  const halted = await h.newVm({ name_label: 'evac-halted', affinity: h.a });
  assert.deepEqual(await h.call('host.get_vms_which_prevent_evacuation', h.a), {});
  await h.call('host.assert_can_evacuate', h.a);

  // The only other host disabled: every guest named, nothing moved.
  await h.call('host.disable', h.b);
  assert.deepEqual(await h.call('host.get_vms_which_prevent_evacuation', h.a), {
    [h.vms[0]]: ['NO_HOSTS_AVAILABLE', h.vms[0]],
    [h.vms[1]]: ['NO_HOSTS_AVAILABLE', h.vms[1]],
  });
  const [code, text] = await h.failure('host.assert_can_evacuate', h.a);
  assert.equal(code, 'CANNOT_EVACUATE_HOST');
  assert.deepEqual(text.split('|').sort(), h.vms.map((v) => `NO_HOSTS_AVAILABLE,${v}`).sort());
  assert.deepEqual(await h.failure('host.evacuate', h.a, NULL, 0), [
    'NO_HOSTS_AVAILABLE',
    [...h.vms].sort()[0],
  ]);
  assert.deepEqual(h.moves.migrated, []);

  // Enabled again: one at a time (batch size 1), both on B, the task at 1; the halted VM stays.
  await h.call('host.enable', h.b);
  const task = await h.call('Async.host.evacuate', h.a, NULL, 1);
  for (;;) {
    const status = await h.call('task.get_status', task);
    if (status !== 'pending') {
      assert.equal(status, 'success', JSON.stringify(await h.call('task.get_error_info', task)));
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(await h.call('task.get_progress', task), 1);
  for (const vm of h.vms) {
    assert.equal(h.record('VM', vm).resident_on, h.b);
    assert.equal(h.record('VM', vm).power_state, 'Running');
  }
  assert.equal(h.moves.migrated.length, 2);
  assert.equal(h.record('VM', halted).power_state, 'Halted');
  assert.deepEqual(await h.call('host.get_vms_which_prevent_evacuation', h.b), {}, 'they could go back');
});

test('xe host-evacuate and host-get-vms-which-prevent-evacuation', async (t) => {
  const h = await twoHosts(t);
  const aUuid = String(h.record('host', h.a).uuid);
  await h.call('host.disable', h.b);
  const listed = await xe(h.m, ['host-get-vms-which-prevent-evacuation', `uuid=${aUuid}`]);
  assert.equal(listed.code, 0, listed.stderr);
  for (const vm of h.vms) {
    const uuid = String(h.record('VM', vm).uuid);
    assert.match(listed.stdout, new RegExp(`uuid \\( RO\\)\\s+: ${uuid}`));
    assert.match(listed.stdout, new RegExp(`reason \\( RO\\): NO_HOSTS_AVAILABLE,${vm}`));
  }
  assert.match(listed.stdout, /name-label \( RW\): evac-1/);
  const refused = await xe(h.m, ['host-evacuate', `uuid=${aUuid}`]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr + refused.stdout, /no servers available/i, refused.stdout);
  const badBatch = await xe(h.m, ['host-evacuate', `uuid=${aUuid}`, 'batch-size=two']);
  assert.notEqual(badBatch.code, 0);
  assert.match(badBatch.stderr, /batch-size/);
  await h.call('host.enable', h.b);
  const ok = await xe(h.m, ['host-evacuate', `uuid=${aUuid}`, 'batch-size=2']);
  assert.equal(ok.code, 0, ok.stderr);
  for (const vm of h.vms) assert.equal(h.record('VM', vm).resident_on, h.b);
  const empty = await xe(h.m, ['host-get-vms-which-prevent-evacuation', `uuid=${aUuid}`]);
  assert.equal(empty.stdout.trim(), '');
});

test('task.cancel during an evacuation: the move under way is aborted, no other starts', async (t) => {
  const h = await twoHosts(t);
  // The first migration runs until aborted (then reports cancelled).
  let aborted = false;
  h.moves.instance_migration_status = async () => {
    const s = { ramTotal: 1, ramTransferred: 0, ramRemaining: 1, diskTransferred: 0, diskTotal: 0 };
    return { phase: aborted ? 'cancelled' : 'active', progress: 0.1, ...s };
  };
  h.moves.instance_migration_abort = async () => {
    aborted = true;
  };
  const task = await h.call('Async.host.evacuate', h.a, NULL, 1);
  const until = Date.now() + 10_000;
  while (h.moves.migrated.length === 0) {
    assert.ok(Date.now() < until, 'the first move started');
    await new Promise((r) => setTimeout(r, 20));
  }
  await h.call('task.cancel', task);
  let status = 'pending';
  while (status === 'pending' || status === 'cancelling') {
    await new Promise((r) => setTimeout(r, 20));
    status = await h.call('task.get_status', task);
  }
  assert.equal(status, 'cancelled', JSON.stringify(await h.call('task.get_error_info', task)));
  assert.equal(h.moves.migrated.length, 1, 'the second VM never started to move');
  for (const vm of h.vms) {
    assert.equal(h.record('VM', vm).resident_on, h.a);
    assert.deepEqual(h.record('VM', vm).current_operations, {});
  }
});

test('the migration network: a plugged PIF with an address on every destination', () => {
  const pifs = new Map<string, Record<string, unknown>>();
  const db = {
    mustGet: (cls: string, ref: string) => {
      if (cls === 'network' && ref === 'net') return {};
      throw new Error(`HANDLE_INVALID ${cls} ${ref}`);
    },
    all: () => pifs,
  } as unknown as Database;
  const check = () => {
    try {
      assertMigrationNetwork(db, 'net', ['hostB', 'hostB']);
      return [];
    } catch (e) {
      return (e as XenApiError).description;
    }
  };
  assert.throws(() => assertMigrationNetwork(db, 'other', []), /HANDLE_INVALID/);
  pifs.set('pifA', { host: 'hostA', network: 'net', currently_attached: true, IP: '10.0.0.1' });
  assert.deepEqual(check(), ['PIF_NOT_PRESENT', 'hostB', 'net']);
  pifs.set('pifB', { host: 'hostB', network: 'net', currently_attached: false, IP: '' });
  assert.deepEqual(check(), ['REQUIRED_PIF_IS_UNPLUGGED', 'pifB']);
  pifs.get('pifB')!.currently_attached = true;
  assert.deepEqual(check(), ['INTERFACE_HAS_NO_IP', 'pifB']);
  pifs.get('pifB')!.primary_address_type = 'IPv6';
  pifs.get('pifB')!.IPv6 = ['fd00::2/64'];
  assert.deepEqual(check(), []);
});
