// berth's event waiter (oVirtCmd's event_waiter over event.from): the code vocabulary, the
// wait_for multiset, break_on, the timeout and the object filter, against a real manager.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Api } from '../../../src/clients/berth/api.js';
import {
  EventTimeoutError,
  eventHasCode,
  eventWaiter,
  parseCode,
  type WaiterEvent,
} from '../../../src/clients/berth/eval/event-waiter.js';
import { CliError } from '../../../src/clients/berth/errors.js';
import { matchesSearch, parseOptionalSearch, quoteSearchValue } from '../../../src/clients/berth/select.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { connectApi } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';

test('event codes: operations, field changes and message names', () => {
  assert.deepEqual(parseCode('VM.add'), { raw: 'VM.add', key: 'vm.add', kind: 'op', cls: 'vm', op: 'add' });
  const f = parseCode('vm.power_state=Running');
  assert.equal(f.key, 'vm.power_state=running');
  assert.equal(parseCode('VM_STARTED').key, 'message.VM_STARTED');
  assert.equal(parseCode('message.vm_started').key, 'message.VM_STARTED');
  for (const bad of ['vm', 'vm.', 'power_state=Running', 'vm.a b', '']) {
    assert.throws(
      () => parseCode(bad),
      (e: unknown) => e instanceof CliError && e.exitCode === 253,
      bad,
    );
  }
  const running = { class: 'vm', operation: 'mod' as const, snapshot: { power_state: 'Running' } };
  assert.equal(eventHasCode(running, f, { power_state: 'Halted' }), true);
  assert.equal(eventHasCode(running, f, { power_state: 'Running' }), false, 'no change, no code');
  assert.equal(eventHasCode(running, f, undefined), true, 'a record not seen before counts as changed');
  assert.equal(eventHasCode({ ...running, class: 'host' }, f, undefined), false);
  const msg = { class: 'message', operation: 'add' as const, snapshot: { name: 'VM_STARTED' } };
  assert.equal(eventHasCode(msg, parseCode('VM_STARTED'), undefined), true);
  assert.equal(eventHasCode(msg, parseCode('VM_SHUTDOWN'), undefined), false);
});

test("search filter: the selection's grammar (select.ts), empty is no condition", () => {
  const r = { name_label: 'Web01', power_state: 'Running', tags: ['a', 'b'] };
  const matches = (expr: string) => matchesSearch(r, parseOptionalSearch(expr));
  assert.equal(matches('name_label=Web01 and power_state=Running'), true);
  assert.equal(matches('name_label=Web01 AND power_state!=Running'), false);
  assert.equal(matches('power_state=running'), false, '= is exact, as in -s');
  assert.equal(matches("tags=b and name_label='Web01'"), true);
  assert.equal(matches('missing=x'), false);
  assert.equal(matches('  '), true);
  assert.throws(() => parseOptionalSearch('name_label'), /malformed search expression at position/);
  assert.throws(() => parseOptionalSearch('name_label='), /malformed search expression/);
  assert.equal(matches('name_label~EB0 and name=Web01'), true, '~ contains, any case; name alias');
  assert.equal(
    matchesSearch({ name: 'VM_STARTED' }, parseOptionalSearch('name=VM_STARTED')),
    true,
    'a real name field wins',
  );
  assert.equal(
    matchesSearch(
      { name_label: "it's web 01" },
      parseOptionalSearch(`name_label=${quoteSearchValue("it's web 01")}`),
    ),
    true,
  );
});

async function setup(t: Parameters<typeof startManager>[0]) {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(async () => {
    await api.client.logout().catch(() => undefined);
    api.client.close();
  });
  const vm = async (name: string) => {
    const ref = (await api.call('VM.create', baseVmRecord({ name_label: name }))) as string;
    return { ref, uuid: (await api.call('VM.get_uuid', ref)) as string };
  };
  return { m, api, vm };
}

const message = (api: Api, name: string, uuid: string) =>
  api.call('message.create', name, 1, 'VM', uuid, 'test');

test('wait_for is a multiset; inputs untouched; events collected in order', async (t) => {
  const { api, vm } = await setup(t);
  const waitFor = ['vm.add', 'vm.add'];
  const out: WaiterEvent[] = [];
  const r = await eventWaiter(api, '', out, { waitFor, timeout: 20 }, async () => {
    await vm('one');
    await vm('two');
    return 'body value';
  });
  assert.equal(r.value, 'body value');
  assert.deepEqual(
    out.map((e) => e.snapshot?.name_label),
    ['one', 'two'],
  );
  assert.deepEqual(out[0].codes, ['vm.add']);
  assert.match(out[0].description, /^vm\.add [0-9a-f-]{36} one$/);
  assert.deepEqual(r.remaining, []);
  assert.deepEqual(waitFor, ['vm.add', 'vm.add'], 'the list given is not consumed');

  // One creation for two entries: the second is still awaited when the timeout strikes.
  const started = Date.now();
  await assert.rejects(
    eventWaiter(api, '', null, { waitFor, timeout: 1, wait: 0.2 }, () => vm('three')),
    (e: unknown) =>
      e instanceof EventTimeoutError &&
      e.message === 'Timeout will waiting for events' &&
      e.exitCode === 251 &&
      e.remaining.join() === 'vm.add',
  );
  assert.ok(Date.now() - started >= 1000, 'the timeout counts from the end of the body');
});

test('break_on stops at the first matching event; the filter picks the subject', async (t) => {
  const { api, vm } = await setup(t);
  const a = await vm('alpha');
  const b = await vm('beta');
  // A message about beta is not about alpha: only alpha's break code ends the wait.
  const r = await eventWaiter(
    api,
    'name_label=alpha',
    null,
    { waitFor: ['VM_STARTED'], breakOn: ['message.BERTH_FAILED'], timeout: 20 },
    async () => {
      await message(api, 'BERTH_FAILED', b.uuid);
      await message(api, 'BERTH_FAILED', a.uuid);
    },
  );
  assert.equal(r.brokeOn, 'message.BERTH_FAILED');
  assert.deepEqual(r.remaining, ['VM_STARTED']);
  assert.equal(r.events.length, 1);
  assert.match(r.events[0].description, new RegExp(`^message.add BERTH_FAILED on VM ${a.uuid}$`));

  // Only breakOn: waits for it (the waitFor list is empty from the start).
  const only = await eventWaiter(
    api,
    { ref: b.ref },
    null,
    { breakOn: ['vm.mod'], timeout: 20 },
    async () => {
      await api.call('VM.set_name_description', a.ref, 'not this one');
      await api.call('VM.set_name_description', b.ref, 'this one');
    },
  );
  assert.equal(only.brokeOn, 'vm.mod');
  assert.equal(only.events[0].ref, b.ref);
});

test('field codes fire when the field changes to the value, not on other changes', async (t) => {
  const { api, vm } = await setup(t);
  const a = await vm('gamma');
  await api.call('VM.set_name_description', a.ref, 'ready');
  // Already "ready": another change of the VM is not the description becoming ready.
  await assert.rejects(
    eventWaiter(
      api,
      { ref: a.ref },
      null,
      { waitFor: ['vm.name_description=READY'], timeout: 1, wait: 0.3 },
      () => api.call('VM.set_name_label', a.ref, 'gamma2'),
    ),
    EventTimeoutError,
  );
  // Two entries of one code: two objects becoming "done" (a filter over the name picks them).
  const b = await vm('gamma-b');
  const r = await eventWaiter(
    api,
    (subject) => String(subject?.name_label).startsWith('gamma'),
    null,
    { waitFor: ['vm.name_description=done', 'VM.name_description=DONE'], timeout: 20 },
    async () => {
      await api.call('VM.set_name_description', a.ref, 'done');
      await api.call('VM.set_name_description', b.ref, 'done');
    },
  );
  assert.deepEqual(r.remaining, []);
  assert.deepEqual(r.events.map((e) => e.ref).sort(), [a.ref, b.ref].sort());
});
