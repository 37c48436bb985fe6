// XenAPI semantics through the real HTTP endpoints with the SDK client: implicit messages, errors,
// RBAC, tasks, sessions and persistence across a restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiClient } from '../../src/clients/sdk/client.js';
import { startManager } from '../helpers/manager.js';

const code = (c: string, params?: string[]) => (e: any) => {
  assert.equal(e.code, c, `${e.code} ${JSON.stringify(e.params)}`);
  if (params) assert.deepEqual(e.params, params);
  return true;
};

async function rootClient(t: import('node:test').TestContext, url: string, password: string) {
  const c = new XenApiClient({ url });
  await c.login('root', password);
  t.after(() => c.close());
  return c;
}

test('implicit messages: records, getters, setters, maps, sets, uuids, where-expressions', async (t) => {
  const m = await startManager(t);
  const c = await rootClient(t, m.httpUrl, m.rootPassword);
  const [pool] = await c.call('pool.get_all');
  const host = await c.call('pool.get_master', pool);
  const rec = (await c.call('host.get_record', host)) as any;
  assert.equal(rec.API_version_major, 2);
  assert.equal(rec.API_version_minor, 21);
  assert.equal(rec.software_version.product_brand, 'Berth');
  assert.equal(await c.call('host.get_by_uuid', rec.uuid), host);
  await assert.rejects(c.call('host.get_by_uuid', 'nope'), code('UUID_INVALID', ['host', 'nope']));
  await assert.rejects(c.call('VM.get_record', host as any), code('HANDLE_INVALID', ['VM', host as string]));

  await c.call('pool.set_name_label', pool, 'lab');
  assert.equal(await c.call('pool.get_name_label', pool), 'lab');
  await c.call('pool.add_to_other_config', pool, 'k', 'v');
  await assert.rejects(
    c.call('pool.add_to_other_config', pool, 'k', 'w'),
    code('MAP_DUPLICATE_KEY', ['pool', 'other_config', pool as string, 'k']),
  );
  await c.call('pool.remove_from_other_config', pool, 'absent'); // no-op, no error
  assert.deepEqual(await c.call('pool.get_other_config', pool), { k: 'v' });
  await c.call('pool.add_tags', pool, 'a');
  await c.call('pool.add_tags', pool, 'a');
  assert.deepEqual(await c.call('pool.get_tags', pool), ['a']);
  await c.call('pool.remove_tags', pool, 'a');
  assert.deepEqual(await c.call('pool.get_tags', pool), []);

  const templates = (await c.call(
    'VM.get_all_records_where' as any,
    'field "is_a_template"="true" and field "is_default_template"="true"',
  )) as any;
  assert.ok(Object.values(templates).some((v: any) => v.name_label === 'Berth test guest'));
  const dom0 = (await c.call('VM.get_all_where' as any, 'field "is_control_domain"="true"')) as any;
  assert.equal(dom0.length, 1);
  await assert.rejects(c.call('VM.get_all_records_where' as any, 'field "x" = '), code('INVALID_VALUE'));
});

test('errors: parameter counts, unknown methods, NOT_IMPLEMENTED, async-only rules, create/destroy', async (t) => {
  const m = await startManager(t);
  const c = await rootClient(t, m.httpUrl, m.rootPassword);
  const s = c.sessionRef!;
  await assert.rejects(
    c.raw('VM.get_record', [s]),
    code('MESSAGE_PARAMETER_COUNT_MISMATCH', ['VM.get_record', '1', '0']),
  );
  await assert.rejects(c.raw('no.such_method', []), code('MESSAGE_METHOD_UNKNOWN', ['no.such_method']));
  await assert.rejects(
    c.raw('no.such_method', ['OpaqueRef:bad']),
    code('SESSION_INVALID', ['OpaqueRef:bad']),
  );
  await assert.rejects(c.raw('pool.enable_ha', [s, [], {}]), code('NOT_IMPLEMENTED', ['pool.enable_ha']));
  await assert.rejects(
    c.raw('Async.VM.get_name_label', [s, 'x']),
    code('Fault', ['No async mode for this operation (rpc: VM.get_name_label)']),
  );
  await assert.rejects(c.raw('VM.get_record', [s, 42]), code('INTERNAL_ERROR'));
  // underscore alias
  assert.equal(((await c.raw('pool_get_all', [s])) as string[]).length, 1);

  // VM.create requires its constructor fields; RO/runtime keys are ignored.
  await assert.rejects(c.raw('VM.create', [s, { name_label: 'x' }]), code('INTERNAL_ERROR'));
  const tmpl = ((await c.raw('VM.get_by_name_label', [s, 'Berth test guest'])) as string[])[0];
  const full = (await c.call('VM.get_record', tmpl)) as any;
  const vm = (await c.raw('VM.create', [
    s,
    { ...full, is_a_template: false, name_label: 'made', power_state: 'Running', domid: 7 },
  ])) as string;
  const made = (await c.call('VM.get_record', vm as any)) as any;
  assert.equal(made.power_state, 'Halted');
  assert.equal(made.domid, -1);
  assert.ok(made.other_config.mac_seed);
  assert.ok(made.allowed_operations.includes('start'));
  await c.call('VM.destroy', vm as any);
  await assert.rejects(c.call('VM.get_record', vm as any), code('HANDLE_INVALID'));
});

test('Async calls run as tasks with an XML-RPC result fragment; tasks can be destroyed', async (t) => {
  const m = await startManager(t);
  const c = await rootClient(t, m.httpUrl, m.rootPassword);
  const [pool] = await c.call('pool.get_all');
  const task = await c.callAsync('pool.get_license_state', pool);
  let rec: any;
  for (let i = 0; i < 100; i++) {
    rec = await c.call('task.get_record', task as any);
    if (rec.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(rec.status, 'success');
  assert.equal(rec.progress, 1);
  assert.equal(rec.name_label, 'Async.pool.get_license_state');
  assert.equal(
    rec.result,
    '<value><struct><member><name>edition</name><value>berth</value></member><member><name>expiry</name><value>never</value></member></struct></value>',
  );
  const failing = await c.callAsync('VM.clean_shutdown', 'OpaqueRef:missing' as any);
  for (let i = 0; i < 100; i++) {
    rec = await c.call('task.get_record', failing as any);
    if (rec.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(rec.status, 'failure');
  assert.deepEqual(rec.error_info, ['HANDLE_INVALID', 'VM', 'OpaqueRef:missing']);
  await c.call('task.destroy', task as any);
  await assert.rejects(c.call('task.get_record', task as any), code('HANDLE_INVALID'));
  // client-managed task
  const own = await c.call('task.create', 'mine', 'desc');
  await c.call('task.set_progress', own, 0.5);
  assert.equal(await c.call('task.get_status', own), 'pending');
});

test('RBAC: roles per message and per protected map key, with xapi error text', async (t) => {
  const m = await startManager(t);
  await m.manager.svc.users.add('op', 'vm-operator', 'op-pass');
  const root = await rootClient(t, m.httpUrl, m.rootPassword);
  const op = new XenApiClient({ url: m.httpUrl });
  t.after(() => op.close());
  await op.login('op', 'op-pass');
  const [pool] = await op.call('pool.get_all');
  const vms = Object.keys((await root.call('VM.get_all_records')) as object);
  const vm = vms[0] as any;
  assert.equal(await op.call('session.get_is_local_superuser', op.sessionRef as any), false);
  await op.call('VM.add_to_other_config', vm, 'folder', '/x'); // protected key: vm-operator may
  await op.call('VM.add_to_other_config', vm, 'XenCenter.CustomFields.color', 'red'); // prefix wildcard
  await assert.rejects(
    op.call('VM.add_to_other_config', vm, 'other', 'v'),
    code('RBAC_PERMISSION_DENIED', [
      'vm.add_to_other_config',
      'No permission in user session. (Roles with this permission: pool-admin, pool-operator, vm-power-admin, vm-admin)',
    ]),
  );
  await assert.rejects(op.call('pool.set_name_label', pool, 'x'), code('RBAC_PERMISSION_DENIED'));
  // Async: RBAC denial lands in the task
  const task = await op.callAsync('host.call_plugin', 'OpaqueRef:x' as any, 'p', 'f', {});
  let rec: any;
  for (let i = 0; i < 100; i++) {
    rec = await root.call('task.get_record', task as any);
    if (rec.status !== 'pending') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(rec.error_info[0], 'RBAC_PERMISSION_DENIED');
  const perms = (await op.call('session.get_rbac_permissions', op.sessionRef as any)) as string[];
  assert.ok(perms.includes('vm.start') && !perms.includes('pool.set_name_label'));
  const roles = (await root.call('role.get_all_records')) as Record<string, any>;
  const named = Object.entries(roles)
    .filter(([, r]) => !r.is_internal)
    .map(([ref, r]) => [r.name_label, ref]);
  assert.deepEqual(Object.fromEntries(named)['pool-admin'], 'OpaqueRef:0165f154-ba3e-034e-6b27-5d271af109ba');
  assert.deepEqual(Object.fromEntries(named)['read-only'], 'OpaqueRef:7233b8e3-eacb-d7da-2c95-f2e581cdbf4e');
});

test('login failures are delayed and do not reveal whether the user exists', async (t) => {
  const m = await startManager(t);
  await m.manager.svc.users.add('bob', 'read-only', 'right');
  const c = new XenApiClient({ url: m.httpUrl });
  t.after(() => c.close());
  for (const user of ['bob', 'nobody']) {
    const t0 = Date.now();
    await assert.rejects(
      c.login(user, 'wrong'),
      code('SESSION_AUTHENTICATION_FAILED', [user, 'Authentication failure']),
    );
    assert.ok(Date.now() - t0 >= 50);
  }
  await assert.rejects(
    c.raw('session.login_with_password', ['a']),
    code('MESSAGE_PARAMETER_COUNT_MISMATCH', ['session.login_with_password', '2', '1']),
  );
  await c.login('bob', 'right');
  await c.logout();
});

test('data and sessions survive a restart; pending tasks become failures', async (t) => {
  const first = await startManager(t);
  const c = await rootClient(t, first.httpUrl, first.rootPassword);
  const [pool] = await c.call('pool.get_all');
  const poolUuid = await c.call('pool.get_uuid', pool);
  await c.call('pool.set_name_description', pool, 'persisted');
  const pending = await c.call('task.create', 'left pending', '');
  const session = c.sessionRef!;
  await first.manager.close();

  const second = await startManager(t, { dataDir: first.dataDir });
  const c2 = new XenApiClient({ url: second.httpUrl });
  t.after(() => c2.close());
  assert.equal(await c2.raw('pool.get_name_description', [session, pool]), 'persisted');
  assert.equal(await c2.raw('pool.get_uuid', [session, pool]), poolUuid);
  assert.equal(await c2.raw('task.get_status', [session, pending]), 'failure');
  const info = (await c2.raw('task.get_error_info', [session, pending])) as string[];
  assert.equal(info[0], 'INTERNAL_ERROR');
  assert.equal(((await c2.raw('pool.get_all', [session])) as string[]).length, 1, 'still exactly one pool');
  await c2.raw('session.logout', [session]);
  await assert.rejects(c2.raw('pool.get_all', [session]), code('SESSION_INVALID', [session]));
});
