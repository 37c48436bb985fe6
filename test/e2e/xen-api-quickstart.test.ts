// The "done when" of the VM issue with an unchanged third-party client: examples/
// xen-api-quickstart.mjs (Xen Orchestra's xen-api npm package) installs a VM from the default
// template, starts it, sees Running by event and reaches the console; while it waits, the manager
// and the agent are SIGKILLed and restarted; the VM's QEMU survives, the script sees the VM still
// Running, shuts it down cleanly and destroys it. No QEMU is left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pidAlive } from '../agent/helpers/guest.js';
import { ensureGuest, startStack, waitFor } from '../helpers/stack.js';

const ROOT = join(import.meta.dirname, '../..');

test('xen-api quick start survives SIGKILL of manager and agent', { timeout: 600_000 }, async (t) => {
  await ensureGuest();
  const stack = await startStack(t, 19700 + Math.floor(Math.random() * 100));
  await stack.startAgent();
  await stack.startManager();
  const pauseFile = join(stack.dir, 'continue');
  const password = readFileSync(join(stack.dir, 'data', 'root-password'), 'utf8').trim();
  const script = spawn(
    process.execPath,
    // --boot-wait 0: the test itself waits for the guest's boot marker before it lets the script go on.
    [join(ROOT, 'examples/xen-api-quickstart.mjs'), stack.url, '--pause-file', pauseFile, '--boot-wait', '0'],
    { cwd: ROOT, env: { ...process.env, BERTH_PASSWORD: password }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  script.stdout.on('data', (d) => (out += d));
  script.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => script.on('exit', r));
  t.after(() => script.kill('SIGKILL'));

  await waitFor(() => out.includes('PAUSED') || script.exitCode !== null, 240_000, 'the script to pause');
  assert.ok(out.includes('PAUSED'), `script ended early:\n${out}\n${err}`);
  assert.match(out, /event: power_state = Running/);
  assert.match(out, /console: HTTP\/1\.[01] 200 .*server says RFB 003\.00\d/);
  const uuid = /installed VM ([0-9a-f-]{36})/.exec(out)![1];
  const [pid] = stack.qemuPids();
  assert.ok(pid > 0);
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), 180_000, 'guest boot');

  // SIGKILL both daemons while the VM runs, then bring them back.
  await stack.kill('manager');
  await stack.kill('agent');
  assert.ok(pidAlive(pid), 'QEMU lives on');
  await stack.startAgent();
  await stack.startManager();
  assert.deepEqual(stack.qemuPids(), [pid], 'the same QEMU, re-adopted');
  // The restarted manager reports it Running (asked here, apart from the script's own client).
  const c = await stack.client();
  const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;
  assert.equal(await call('VM.get_power_state', await call('VM.get_by_uuid', uuid)), 'Running');
  assert.ok(pidAlive(pid), 'QEMU still runs after the restarts');

  writeFileSync(pauseFile, '');
  assert.equal(await exited, 0, `script failed:\n${out}\n${err}`);
  assert.match(out, /still Running after the daemons restarted/);
  assert.match(out, /event power_state = Halted/);
  assert.match(out, /VM destroyed/);
  assert.deepEqual(stack.qemuPids(), []);
  // (A zombie until the machine's init reaps it: QEMU was re-parented when the agent died.)
  assert.equal(pidAlive(pid), false, 'QEMU has exited');
  t.diagnostic(out);
});
