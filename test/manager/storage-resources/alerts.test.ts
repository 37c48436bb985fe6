// Alerts (reference §7): an active condition raises once and propagates to every descendant; an
// inactive one lowers it (history kept, propagation gone); the offline alert of a root is lowered
// only by the first update round after a reopen (anti-flapping); every change reaches the callback.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CTRL_CLASSES,
  Controller,
  controllerReport,
  Drive,
  Enclosure,
  idOf,
  Lun,
  openStore,
  res,
} from './fixtures.js';

const FAILED = { alertClass: '_None_status_40', attribute: 'status', active: true, severity: 40 } as const;

test('raise propagates to every descendant, once; lower clears it and its propagation', async (t) => {
  const { store, q, events } = openStore(t);
  await store.sessionOpen(
    'a',
    CTRL_CLASSES,
    [...controllerReport('ca', ['D1', 'D2']), res(10, Lun, { lun_id: 'L1', serial: 's' }, [3])],
    5,
  );
  const enc = idOf(store, Enclosure, 'enc-ca');
  const d1 = idOf(store, Drive, 'D1');
  const lun = q.resourcesOfClass('ctrl.Lun')[0].id;
  // An alert on the enclosure reaches both drives and, through D1, the LUN.
  const EncFail = { ...FAILED };
  await assert.rejects(store.sessionNotifyAlert('a', 2, EncFail), /has no alert class _None_status_40/);
  await store.sessionNotifyAlert('a', 3, FAILED);
  await store.sessionNotifyAlert('a', 3, FAILED);
  assert.equal(q.alerts({ active: true }).length, 1, 'raised once');
  const [alert] = q.activeAlerts(d1);
  assert.equal(alert.message, 'Drive failed (Drive Drive D1)');
  assert.equal(alert.severity, 40);
  assert.equal(alert.propagated, false);
  assert.deepEqual(q.propagatedTo(alert.id), [lun]);
  assert.deepEqual(
    q.activeAlerts(lun).map((a) => [a.id, a.propagated]),
    [[alert.id, true]],
  );
  assert.deepEqual(q.activeAlerts(enc), []);
  assert.deepEqual(events, [
    {
      kind: 'raised',
      alertId: alert.id,
      alertType: 'condition',
      alertClass: '_None_status_40',
      severity: 40,
      message: 'Drive failed (Drive Drive D1)',
      alertMessage: 'Drive failed (Drive Drive D1)',
      resourceId: d1,
      root: 'a',
      propagatedTo: [lun],
      at: 1000,
    },
  ]);
  await store.sessionNotifyAlert('a', 3, { ...FAILED, active: false });
  assert.deepEqual(q.activeAlerts(d1), []);
  assert.deepEqual(q.activeAlerts(lun), []);
  const [hist] = q.alerts();
  assert.equal(hist.active, false);
  assert.equal(events[1].kind, 'lowered');
  assert.equal(events[1].message, 'Cleared storage alert: Drive failed (Drive Drive D1)');
  // Lowering again is a no-op; a new raise is a new alert.
  await store.sessionNotifyAlert('a', 3, { ...FAILED, active: false });
  await store.sessionNotifyAlert('a', 3, FAILED);
  assert.equal(q.alerts().length, 2);
  assert.equal(events.length, 3);
});

test('two alert classes of one attribute are separate alerts', async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('a', CTRL_CLASSES, controllerReport('ca', ['D1']), 5);
  await store.sessionNotifyAlert('a', 3, FAILED);
  await store.sessionNotifyAlert('a', 3, {
    alertClass: '_None_status_30',
    attribute: 'status',
    active: true,
    severity: 30,
  });
  assert.deepEqual(
    q.activeAlerts(idOf(store, Drive, 'D1')).map((a) => a.message),
    ['Drive failed (Drive Drive D1)', 'Drive degraded (Drive Drive D1)'],
  );
});

test('offline: raised once, kept through a reopen, lowered by the first update after it', async (t) => {
  const { store, q, events } = openStore(t);
  await store.sessionOpen('a', CTRL_CLASSES, controllerReport('ca', ['D1']), 5);
  await store.sessionOffline('a', 'Error: connection refused');
  await store.sessionOffline('a', 'Error: connection refused');
  const ctrl = idOf(store, Controller, 'ca');
  const offline = q.alerts({ active: true });
  assert.equal(offline.length, 1);
  assert.equal(offline[0].message, 'Controller ca not contactable');
  assert.equal(offline[0].kind, 'offline');
  assert.equal(offline[0].severity, 30);
  assert.equal(offline[0].resourceId, ctrl);
  await store.sessionClose('a');

  // The restart: the initial scan alone (open) does not lower it, nor do its alert states.
  await store.sessionOpen('a', CTRL_CLASSES, controllerReport('ca', ['D1']), 5);
  await store.sessionNotifyAlert('a', 3, { ...FAILED, active: false });
  assert.equal(q.alerts({ active: true, root: 'a' }).length, 1, 'still offline after the initial scan');
  // The first update round does.
  await store.sessionUpdateResource('a', 3, { status: 'OK' });
  assert.deepEqual(q.alerts({ active: true }), []);
  const ends = events.filter((e) => e.kind === 'lowered');
  assert.deepEqual(
    ends.map((e) => e.message),
    ['Re-established contact with Controller ca'],
  );
  assert.equal(events.filter((e) => e.kind === 'raised').length, 1);

  // Going offline again right after is a new alert; an update round that changed nothing
  // (sessionUpdateDone) after a reopen lowers it as well.
  await store.sessionOffline('a', 'timeout');
  await store.sessionOpen('a', CTRL_CLASSES, controllerReport('ca', ['D1']), 5);
  await store.sessionUpdateDone('a');
  assert.deepEqual(q.alerts({ active: true }), []);
  assert.equal(q.alerts({ active: false }).length, 2);
});

test('offline before any open names the root itself; deleting the root clears it', async (t) => {
  const { store, q, events } = openStore(t);
  await store.sessionOffline('ctrl-x', 'initial scan failed');
  const [a] = q.alerts({ active: true });
  assert.equal(a.message, 'ctrl-x not contactable');
  assert.equal(a.resourceId, null);
  await store.removeRoot('ctrl-x');
  assert.deepEqual(q.alerts({ active: true }), []);
  assert.equal(events.at(-1)!.message, 'Cleared storage alert: ctrl-x not contactable');
});

test('a throwing alert callback does not fail the call', async (t) => {
  const { ResourceStore } = await import('../../../src/manager/storage-resources/store.js');
  const { tempDir } = await import('../../helpers/tmp.js');
  const store = new ResourceStore({
    path: `${tempDir(t, 'berth-resource-store-')}/berth.db`,
    onAlert: () => {
      throw new Error('boom');
    },
  });
  t.after(() => store.close());
  await store.sessionOffline('r', 'x');
  assert.equal(store.queries.alerts({ active: true }).length, 1);
});

test("an alias a user set names the resource in later alerts' texts", async (t) => {
  const { store, q } = openStore(t);
  await store.sessionOpen('a', CTRL_CLASSES, controllerReport('ca', ['D1']), 5);
  const d1 = idOf(store, Drive, 'D1');
  await store.setAlias(d1, 'bay 4');
  assert.equal(q.resource(d1)!.alias, 'bay 4');
  await store.sessionNotifyAlert('a', 3, FAILED);
  assert.equal(q.activeAlerts(d1)[0].message, 'Drive failed (Drive bay 4)');
  await assert.rejects(store.setAlias(999_999, 'x'), /no resource 999999/);
});
