// The hooks procedures over a real agent's RPC (agent.ts wiring, NodedAgentClient.hooks): a
// script of the agent's hooks dir runs, refusals come back as XenAPI errors, an iallocator of its
// iallocator dir answers.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgentIn } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';

test('hooks_runner, hooks_list and iallocator_runner through the agent RPC', async (t) => {
  const dir = tempDir(t, 'berth-hooks-agent-');
  const a = await startAgentIn(dir);
  t.after(async () => {
    a.client.close();
    await a.agent.close();
  });
  a.client.connect();
  const hooksDir = join(dir, 'hooks', 'vm-start-pre.d');
  mkdirSync(hooksDir, { recursive: true, mode: 0o755 });
  writeFileSync(join(hooksDir, 'hello'), '#!/bin/sh\necho "hello $BERTH_VM_NAME"\n');
  chmodSync(join(hooksDir, 'hello'), 0o755);
  mkdirSync(join(dir, 'iallocators'), { mode: 0o755 });
  writeFileSync(
    join(dir, 'iallocators', 'first'),
    '#!/bin/sh\necho \'{"success": true, "info": "", "result": ["h1"]}\'\n',
  );
  chmodSync(join(dir, 'iallocators', 'first'), 0o755);

  const r = await a.client.hooks.hooks_runner('vm-start', 'pre', { BERTH_VM_NAME: 'web1' });
  assert.deepEqual(r, [
    {
      name: 'vm-start-pre.d/hello',
      status: 'success',
      exit_code: 0,
      output: 'hello web1\n',
      timed_out: false,
    },
  ]);
  assert.deepEqual(await a.client.hooks.hooks_list(), [
    { dir: 'vm-start-pre.d', name: 'hello', runnable: true, reason: '' },
  ]);
  await assert.rejects(
    a.client.hooks.hooks_runner('../etc', 'pre', {}),
    (e: { code?: string }) => e.code === 'INVALID_VALUE',
  );
  assert.equal(JSON.parse(await a.client.hooks.iallocator_runner('first', '{}')).result[0], 'h1');
  await assert.rejects(
    a.client.hooks.iallocator_runner('missing', '{}'),
    (e: { code?: string }) => e.code === 'IALLOCATOR_FAILED',
  );
});
