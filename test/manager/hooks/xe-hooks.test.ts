// Hooks through xe: host-hooks-list shows each host's scripts and whether they would run; a VM
// start refused by a pre hook prints xapi's XAPI_HOOK_FAILED with the hook's output.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hooksProcedures } from '../../../src/agent/hooks/rpc.js';
import { hooksClient } from '../../../src/shared/host/hooks.js';
import { tempDir } from '../../helpers/tmp.js';
import { xe } from '../cli/harness.js';
import { harness } from '../setters/harness.js';

test('xe host-hooks-list, and xe vm-start refused by a pre hook', async (t) => {
  const h = await harness(t);
  const dir = tempDir(t, 'berth-hooks-');
  const procs = hooksProcedures({ dir }) as Record<string, (...a: unknown[]) => unknown>;
  (h.agent as unknown as { hooks: unknown }).hooks = hooksClient(async (name, args) => procs[name](...args));
  const d = join(dir, 'vm-start-pre.d');
  mkdirSync(d, { recursive: true, mode: 0o755 });
  writeFileSync(join(d, '10-deny'), '#!/bin/sh\necho "no starts today"\nexit 1\n');
  chmodSync(join(d, '10-deny'), 0o755);
  writeFileSync(join(d, 'notes.txt'), 'not a hook');
  const hostUuid = h.record('host', h.m.manager.svc.hostRef()).uuid;

  const list = await xe(h.m, ['host-hooks-list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`host-uuid \\( RO\\)\\s*: ${hostUuid}`));
  assert.match(list.stdout, /script \( RO\)\s*: vm-start-pre\.d\/10-deny\n\s*status \( RO\)\s*: runnable/);
  assert.match(
    list.stdout,
    /script \( RO\)\s*: vm-start-pre\.d\/notes\.txt\n\s*status \( RO\)\s*: skipped: name does not match/,
  );

  const vm = await h.newVm({ name_label: 'xe-hooks-vm' });
  const vmUuid = h.record('VM', vm).uuid;
  const start = await xe(h.m, ['vm-start', `uuid=${vmUuid}`]);
  assert.notEqual(start.code, 0);
  assert.match(start.stderr, /3rd party xapi hook failed/);
  assert.match(start.stderr, /vm-start-pre\.d\/10-deny/);
  assert.match(start.stderr, /no starts today/);
  assert.equal(h.record('VM', vm).power_state, 'Halted');

  // An Async call's task keeps the results: xe task-param-list shows them in other-config.
  const task = await h.call('Async.VM.start', vm, false, false);
  for (let i = 0; i < 200 && (await h.call('task.get_status', task)) === 'pending'; i++)
    await new Promise((r) => setTimeout(r, 25));
  const taskUuid = await h.call('task.get_uuid', task);
  const params = await xe(h.m, ['task-param-list', `uuid=${taskUuid}`]);
  assert.equal(params.code, 0, params.stderr);
  assert.match(
    params.stdout,
    /other-config \(MRW\): .*hooks:pre:[^:]+:vm-start-pre\.d\/10-deny: fail \(exit 1\): no starts today/,
  );
  assert.match(params.stdout, /error_info \( RO\): XAPI_HOOK_FAILED; vm-start-pre\.d\/10-deny/);
});
