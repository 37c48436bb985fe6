// Instance events and reconciliation per host: only the agent of the host a VM is resident on
// speaks for it, so another host's report (a stale instance, an empty list after its restart)
// leaves the VM as it is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { applyInstanceEvent, reconcile } from '../../../src/manager/vm/reconcile.js';
import { startManager } from '../../helpers/manager.js';
import { addTestHost } from '../../helpers/pool-host.js';

test("a host's agent speaks only for the VMs resident on that host", async (t) => {
  const m = await startManager(t);
  const { svc, db } = m.manager;
  const a = svc.hostRef();
  const b = addTestHost(db, 'reconcile-host-b');
  const running = (host: string) =>
    db.create('VM', {
      ...baseVmRecord({ name_label: `on-${host}` }),
      power_state: 'Running',
      resident_on: host,
    });
  const onA = running(a);
  const onB = running(b);
  const uuid = (vm: string) => String(db.mustGet('VM', vm).uuid);
  const noRestart = async () => undefined;

  // A's agent reports B's VM gone: not A's to say.
  applyInstanceEvent(svc, { uuid: uuid(onB), state: 'absent' }, noRestart, a);
  assert.equal(db.mustGet('VM', onB).power_state, 'Running');
  applyInstanceEvent(svc, { uuid: uuid(onB), state: 'shutdown' }, noRestart, b);
  assert.equal(db.mustGet('VM', onB).power_state, 'Halted');

  // B's agent restarted with no instances: B's VMs are halted, A's stay.
  const onB2 = running(b);
  const r = reconcile(svc, [], b);
  assert.deepEqual(r.halted, [onB2]);
  assert.equal(db.mustGet('VM', onA).power_state, 'Running');
  // An instance B runs that the database has Halted is adopted as resident on B.
  const r2 = reconcile(svc, [{ uuid: uuid(onB), state: 'running' }], b);
  assert.deepEqual(r2.adopted, [onB]);
  assert.equal(db.mustGet('VM', onB).resident_on, b);
});
