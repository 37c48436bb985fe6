// The wait-start sample against a real Berth (agent and manager processes, the test guest under
// QEMU): the VM is started inside the event waiter, which returns once an event shows it Running.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runEval } from '../../../src/clients/berth/eval/run.js';
import { captureOutput, connectApi } from '../../helpers/berth-verb.js';
import { NOUNS } from '../../../src/clients/berth/nouns/index.js';
import { startGuestStack, testGuestVm } from '../../helpers/guest-vm.js';
import { freePort } from '../../helpers/prometheus-server.js';

const SAMPLES = join(import.meta.dirname, '../../../samples/berth');

test('samples: wait-start starts a real guest and sees it Running', { timeout: 300_000 }, async (t) => {
  const { stack, call } = await startGuestStack(t, await freePort());
  const { vm, uuid } = await testGuestVm(call, 'evalev-wait-start');
  const password = readFileSync(join(stack.dir, 'data', 'root-password'), 'utf8').trim();
  const out = captureOutput();
  const code = await runEval(
    () => connectApi(stack.url, password),
    out,
    ['-v', 'timeout', '120', join(SAMPLES, 'wait-start.mjs'), 'evalev-wait-start'],
    NOUNS,
  );
  assert.equal(code, 0);
  const [host] = (await call('host.get_all')) as string[];
  const hostName = await call('host.get_name_label', host);
  // verbose: the event that ended the wait, then the sample's own line.
  assert.deepEqual(out.lines, [
    `vm.mod ${uuid} evalev-wait-start`,
    `evalev-wait-start is Running on ${hostName}`,
  ]);
  assert.equal(await call('VM.get_power_state', vm), 'Running');
  await call('VM.hard_shutdown', vm);
});
