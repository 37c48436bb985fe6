// console.create / console.destroy answer NOT_IMPLEMENTED as xapi does (consoles come and go
// with their VM), over the wire, after RBAC, and leave the console records alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonRpcCaller } from '../../helpers/json-rpc.js';
import { startManager } from '../../helpers/manager.js';

test('console.create and console.destroy answer NOT_IMPLEMENTED', async (t) => {
  const tm = await startManager(t);
  const rpc = jsonRpcCaller(tm.httpUrl);
  const login = await rpc('session.login_with_password', ['root', tm.rootPassword, '1.0', 'test']);
  const session = login.result as string;
  const before = (await rpc('console.get_all', [session])).result as string[];

  const created = await rpc('console.create', [session, { other_config: {} }]);
  assert.equal(created.result, undefined);
  assert.deepEqual(
    [created.error?.message, ...(created.error?.data ?? [])],
    ['NOT_IMPLEMENTED', 'console.create'],
  );
  const destroyed = await rpc('console.destroy', [session, before[0] ?? 'OpaqueRef:NULL']);
  assert.deepEqual(
    [destroyed.error?.message, ...(destroyed.error?.data ?? [])],
    ['NOT_IMPLEMENTED', 'console.destroy'],
  );
  const asyncCreate = await rpc('Async.console.create', [session, { other_config: {} }]);
  const task = asyncCreate.result as string;
  for (let i = 0; i < 100 && (await rpc('task.get_status', [session, task])).result === 'pending'; i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual((await rpc('task.get_error_info', [session, task])).result, [
    'NOT_IMPLEMENTED',
    'console.create',
  ]);
  assert.deepEqual((await rpc('console.get_all', [session])).result, before);
});
