// `berth user`, `role`, `task`, `message` and `system` against a real manager (real SQLite,
// a real in-process agent).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import type { CliError } from '../../../src/clients/berth/errors.js';
import { messageNoun } from '../../../src/clients/berth/nouns/message.js';
import { roleNoun } from '../../../src/clients/berth/nouns/role.js';
import { systemNoun, systemObject } from '../../../src/clients/berth/nouns/system.js';
import { taskNoun } from '../../../src/clients/berth/nouns/task.js';
import { userNoun } from '../../../src/clients/berth/nouns/user.js';
import type { XenApiError } from '../../../src/shared/errors.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';

const cliError = (code: number, re: RegExp) => (e: CliError) => e.exitCode === code && re.test(e.message);

async function setup(t: import('node:test').TestContext) {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));
  return { m, api };
}

test('user add, roles, permits, addrole/removerole, remove; role list and permits', async (t) => {
  const { api } = await setup(t);
  await assert.rejects(runVerb(api, userNoun, 'add', undefined, {}), cliError(253, /user name \(-n\)/));
  await assert.rejects(
    runVerb(api, userNoun, 'add', undefined, { name: 'alice' }),
    cliError(253, /its roles \(-r/),
  );
  await assert.rejects(
    runVerb(api, userNoun, 'add', undefined, { name: 'alice', role: ['no-such-role'] }),
    cliError(252, /no role found matching 'no-such-role'/),
  );
  const permission = String(
    (await api.allRecords('role')).find((r) => r.record.is_internal)?.record.name_label,
  );
  await assert.rejects(
    runVerb(api, userNoun, 'add', undefined, { name: 'alice', role: [permission] }),
    cliError(
      253,
      new RegExp(`'${permission.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' is a permission, not a role`),
    ),
  );
  assert.deepEqual(await api.allRecords('subject'), [], 'bad input makes no subject');

  const alice = (await runVerb(api, userNoun, 'add', undefined, { name: 'alice', role: ['vm-operator'] }))
    .outcome as ApiObject;
  assert.equal(alice.record.subject_identifier, 'alice');
  assert.equal((await runVerb(api, userNoun, 'roles', alice)).outcome, "has role 'vm-operator' on (system)");

  const permits = String((await runVerb(api, userNoun, 'permits', alice)).outcome).split('\n');
  const expected = ((await api.call('subject.get_permissions_name_label', alice.ref)) as string[]).sort();
  assert.equal(permits[0], '(system):');
  assert.deepEqual(
    permits.slice(1),
    expected.map((p) => `  ${p}`),
  );
  assert.ok(
    permits.some((p) => p.trim().toLowerCase() === 'vm.start'),
    'a vm-operator may start VMs',
  );

  assert.equal(
    (await runVerb(api, userNoun, 'addrole', await api.refresh(alice), { role: ['vm-admin'] })).outcome,
    true,
  );
  assert.equal(
    (await runVerb(api, userNoun, 'roles', await api.refresh(alice))).outcome,
    "has role 'vm-admin' on (system)\nhas role 'vm-operator' on (system)",
  );
  await assert.rejects(
    runVerb(api, userNoun, 'addrole', await api.refresh(alice), { role: ['vm-admin'] }),
    (e: XenApiError) => e.code === 'ROLE_ALREADY_EXISTS',
  );
  await runVerb(api, userNoun, 'removerole', await api.refresh(alice), { role: ['vm-operator'] });
  assert.equal(
    (await runVerb(api, userNoun, 'roles', await api.refresh(alice))).outcome,
    "has role 'vm-admin' on (system)",
  );

  assert.equal((await runVerb(api, userNoun, 'remove', alice)).outcome, true);
  assert.deepEqual(await api.allRecords('subject'), []);

  // role: the six static roles only (not the permissions), and what one grants.
  const all = await api.allRecords('role');
  const shown = all.filter((r) => roleNoun.filter?.(r.record) ?? true).map((r) => r.record.name_label);
  assert.deepEqual(shown.sort(), [
    'pool-admin',
    'pool-operator',
    'read-only',
    'vm-admin',
    'vm-operator',
    'vm-power-admin',
  ]);
  const ro = all.find((r) => r.record.name_label === 'read-only') as ApiObject;
  const lines = String((await runVerb(api, roleNoun, 'permits', [ro])).outcome).split('\n');
  assert.equal(lines[0], 'read-only:');
  assert.equal(
    lines.length - 1,
    ((await api.call('role.get_permissions_name_label', ro.ref)) as string[]).length,
  );
});

test('task cancel needs a selection; message list and delete', async (t) => {
  const { api } = await setup(t);
  // (task cancel of a running task: host.test.ts, where a slow plugin call makes one.)
  const task = (await api.call('task.create', 'berth-infra-test', 'a task')) as string;
  const [listed] = (await api.allRecords('task')).filter((x) => x.ref === task);
  assert.equal(listed.record.name_label, 'berth-infra-test');
  await assert.rejects(runVerb(api, taskNoun, 'cancel', [listed]), cliError(253, /select the tasks/));

  const [pool] = await api.allRecords('pool');
  const uuid = String(pool.record.uuid);
  await api.call('message.create', 'BERTH_TEST_LOW', 5, 'Pool', uuid, 'low');
  await api.call('message.create', 'BERTH_TEST_HIGH', 1, 'Pool', uuid, 'high');
  const msgs = await api.allRecords('message');
  assert.equal(msgs.length, 2);
  await assert.rejects(runVerb(api, messageNoun, 'delete', msgs), cliError(253, /select the messages/));
  const low = msgs.filter((m) => m.record.priority === 5);
  assert.equal(
    (await runVerb(api, messageNoun, 'delete', low, {}, [], { search: 'priority=5' })).outcome,
    true,
  );
  assert.deepEqual(
    (await api.allRecords('message')).map((m) => m.record.name),
    ['BERTH_TEST_HIGH'],
  );
});

test('system export: the summary counts what the pool holds', async (t) => {
  const { m, api } = await setup(t);
  const db = m.manager.db;
  // Guests in every state (no QEMU needed to count them): 2 running, 1 halted, 1 paused.
  for (const [name, state] of [
    ['a', 'Running'],
    ['b', 'Running'],
    ['c', 'Halted'],
    ['d', 'Paused'],
  ])
    db.create('VM', { name_label: `infra-${name}`, power_state: state, is_a_template: false });
  const sys = await systemObject(api);
  const summary = sys.record.summary as Record<string, { total: number; active: number }>;
  const vms = (await api.allRecords('VM')).filter(
    (v) => !v.record.is_a_template && !v.record.is_control_domain && !v.record.is_a_snapshot,
  );
  assert.deepEqual(summary.vms, { total: vms.length, active: 2 });
  assert.equal(vms.length, 4);
  assert.deepEqual(summary.hosts, { total: 1, active: 1 });
  assert.deepEqual(summary.storage_domains, { total: 1, active: 1 });
  assert.deepEqual(summary.users, { total: 0, active: 0 }, "root's session is not a user's");
  // A local user logged in counts as active; a subject as a user.
  await m.manager.svc.users.add('bob', 'vm-operator', 'bob-password-1');
  const bob = new (await import('../../../src/clients/sdk/client.js')).XenApiClient({ url: m.httpUrl });
  await bob.login('bob', 'bob-password-1');
  t.after(() => bob.logout().catch(() => {}));
  await api.call('subject.create', { subject_identifier: 'bob', other_config: {} });
  assert.deepEqual(((await systemObject(api)).record.summary as typeof summary).users, {
    total: 1,
    active: 1,
  });
  assert.equal((sys.record.product_info as Record<string, string>).name, 'Berth');

  // `berth system export summary vms active` walks that object with the generic export: it
  // prints the number of running VMs, and nothing else.
  const { outcome } = await runVerb(api, systemNoun, 'export', undefined, {}, ['summary', 'vms', 'active']);
  const lines: string[] = [];
  for await (const l of outcome as AsyncIterable<string>) lines.push(l);
  assert.deepEqual(lines, ['2']);
});
