// VM.start through the JSON-RPC endpoint (a sync call of an async-capable message, so under a
// task) with the host agent stood in for: one durable commit per start, the VM row written once
// in it, and the same final state in memory, in events and on disk as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WriteOp } from '../../../src/manager/db/backend.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { startManager } from '../../helpers/manager.js';
import { noHooks } from '../../helpers/test-agent.js';

async function rpc(url: string, method: string, params: unknown[]): Promise<any> {
  const res = await fetch(`${url}/jsonrpc`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const r = (await res.json()) as { result?: unknown; error?: { message: string; data: unknown } };
  if (r.error) throw new Error(`${method}: ${r.error.message} ${JSON.stringify(r.error.data)}`);
  return r.result;
}

test('VM.start: one durable commit, the VM row written once in it', async (t) => {
  const m = await startManager(t);
  const { svc } = m.manager;
  const db = svc.db;
  const started: string[] = [];
  svc.hosts.attach(svc.hostRef(), {
    connected: true,
    start: async (spec: { uuid: string }) => {
      started.push(spec.uuid);
      return {
        uuid: spec.uuid,
        state: 'running',
        vcpus: 1,
        memoryBytes: 256 * 1024 * 1024,
        startedAt: Date.now(),
      };
    },
    // Site hooks: none installed, as on a host whose hooks dir is empty (an agent without the
    // procedure would be "unreachable", recorded in the task: commits this test does not count).
    hooks: noHooks(),
    close: () => undefined,
  } as never);
  const session = await rpc(m.httpUrl, 'session.login_with_password', ['root', m.rootPassword]);
  const vm = await rpc(m.httpUrl, 'VM.create', [session, baseVmRecord({ name_label: 'write-once' })]);
  const uuid = await rpc(m.httpUrl, 'VM.get_uuid', [session, vm]);
  const { token } = await rpc(m.httpUrl, 'event.from', [session, ['vm'], '', 0]);

  // Count what reaches the store, and the reads and writes of the VM row through the Database API.
  db.flush();
  const backend = (db as unknown as { backend: { apply: (ops: WriteOp[], meta?: object) => void } }).backend;
  const batches: WriteOp[][] = [];
  const apply = backend.apply;
  backend.apply = function (ops, meta) {
    batches.push(ops);
    return apply.call(this, ops, meta);
  };
  let vmReads = 0;
  let vmUpdates = 0;
  const { get, mustGet, update } = db;
  const spy = db as unknown as Record<string, unknown>;
  spy.get = (cls: string, ref: string) => {
    if (cls === 'VM' && ref === vm) vmReads++;
    return get.call(db, cls, ref);
  };
  spy.mustGet = (cls: string, ref: string) => {
    if (cls === 'VM' && ref === vm) vmReads++;
    return mustGet.call(db, cls, ref);
  };
  spy.update = (cls: string, ref: string, ch: Record<string, unknown>) => {
    if (cls === 'VM' && ref === vm) vmUpdates++;
    return update.call(db, cls, ref, ch);
  };
  const unspy = () => {
    delete spy.get;
    delete spy.mustGet;
    delete spy.update;
  };

  await rpc(m.httpUrl, 'VM.start', [session, vm, false, false]);
  assert.deepEqual(started, [uuid]);
  assert.equal(batches.length, 1, 'one durable commit per start');
  const vmWrites = batches[0].filter((o) => o.cls === 'VM' && o.ref === vm);
  assert.equal(vmWrites.length, 1, 'the VM row is written once');
  assert.equal(vmWrites[0].op, 'update');
  const changes = (vmWrites[0] as { changes: Record<string, unknown> }).changes;
  assert.equal(changes.power_state, 'Running');
  assert.deepEqual(changes.current_operations, {});
  assert.ok(Array.isArray(changes.allowed_operations));
  // In memory the row is still changed step by step (operation marked, host reserved in
  // scheduled_to_be_resident_on, started, operation cleared, allowed operations refreshed);
  // this pins the count so it cannot silently grow.
  t.diagnostic(`VM row reads through the Database API: ${vmReads}, in-memory updates: ${vmUpdates}`);
  assert.ok(vmUpdates <= 7, `in-memory updates of the VM row: ${vmUpdates}`);
  unspy();

  // Clients see the final state; the task of the sync call is gone.
  const rec = await rpc(m.httpUrl, 'VM.get_record', [session, vm]);
  assert.equal(rec.power_state, 'Running');
  assert.deepEqual(rec.current_operations, {});
  assert.ok(rec.allowed_operations.includes('hard_shutdown'));
  assert.ok(!rec.allowed_operations.includes('start'));
  const batch = await rpc(m.httpUrl, 'event.from', [session, ['vm'], token, 0]);
  const mine = batch.events.filter((e: { ref: string }) => e.ref === vm);
  assert.equal(mine.length, 1, 'one coalesced event for the VM');
  assert.equal(mine[0].operation, 'mod');
  assert.equal(mine[0].snapshot.power_state, 'Running');
  assert.deepEqual(mine[0].snapshot.current_operations, {});
  assert.deepEqual(await rpc(m.httpUrl, 'task.get_all', [session]), []);

  // On disk after a restart (close flushes the deferred task removal).
  svc.hosts.detach(svc.hostRef());
  await m.manager.close();
  // No agent: a real one, with no QEMU for this VM, would rightly reconcile it to Halted.
  const m2 = await startManager(t, { dataDir: m.dataDir, agent: false });
  const row = m2.manager.svc.db.get('VM', vm)!;
  assert.equal(row.power_state, 'Running');
  assert.deepEqual(row.current_operations, {});
  assert.equal(m2.manager.svc.db.count('task'), 0, 'no sync-call task left on disk');
});

test('a failed VM.start still clears the operation durably', async (t) => {
  const m = await startManager(t);
  const { svc } = m.manager;
  svc.hosts.attach(svc.hostRef(), {
    connected: true,
    start: async () => {
      throw new Error('QEMU would not start');
    },
    close: () => undefined,
  } as never);
  const session = await rpc(m.httpUrl, 'session.login_with_password', ['root', m.rootPassword]);
  const vm = await rpc(m.httpUrl, 'VM.create', [session, baseVmRecord({ name_label: 'fails' })]);
  await assert.rejects(rpc(m.httpUrl, 'VM.start', [session, vm, false, false]), /QEMU would not start/);
  const rec = await rpc(m.httpUrl, 'VM.get_record', [session, vm]);
  assert.equal(rec.power_state, 'Halted');
  assert.deepEqual(rec.current_operations, {});
  assert.ok(rec.allowed_operations.includes('start'));
  svc.hosts.detach(svc.hostRef());
  await m.manager.close();
  // No agent: a real one, with no QEMU for this VM, would rightly reconcile it to Halted.
  const m2 = await startManager(t, { dataDir: m.dataDir, agent: false });
  assert.deepEqual(m2.manager.svc.db.get('VM', vm)!.current_operations, {});
  assert.equal(m2.manager.svc.db.get('VM', vm)!.power_state, 'Halted');
});
