// A manager SIGKILLed with VM operations in flight: after a restart nothing stays blocked by the
// dead tasks, the VM agrees with the agent, and a VM copy/clone left either whole or gone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { parseConfig } from '../../../src/manager/config.js';
import { Manager } from '../../../src/manager/manager.js';
import { tempDir } from '../../helpers/tmp.js';
import { FakeAgent } from './fake-agent.js';

/** Runs the crash child until its output includes `until`, then SIGKILLs it. */
async function runAndKill(t: TestContext, dataDir: string, args: string[], until: string): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'crash-vm-op-child.ts'), dataDir, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (b) => {
    out += b;
  });
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 120_000;
  while (!out.includes(until) && Date.now() < deadline && child.exitCode === null)
    await new Promise((r) => setTimeout(r, 2));
  child.kill('SIGKILL');
  await exited;
  assert.ok(out.includes(until), `child reached "${until}": ${out}`);
  return out;
}

async function reopen(t: TestContext, dataDir: string, agent: FakeAgent) {
  const config = parseConfig(
    ['--data-dir', dataDir, '--http-port', 'off', '--https-port', 'off', '--socket', join(dataDir, 'x.sock')],
    {},
  );
  const m = await Manager.open(config, { timers: false, agent, networking: false });
  t.after(() => m.close());
  const s = m.svc.sessions.validate(m.svc.sessions.localLogin());
  return {
    m,
    call: <T = unknown>(wire: string, ...args: unknown[]) => m.svc.call(s, wire, args) as Promise<T>,
  };
}

test('SIGKILL mid VM.start: after restart the dead task blocks nothing; the VM follows the agent', async (t) => {
  const dataDir = tempDir(t, 'berth-reliability-');
  const out = await runAndKill(t, dataDir, ['start'], 'started');
  const [, vm, task] = out.match(/started (\S+) (\S+)/)!;

  const agent = new FakeAgent();
  const { m, call } = await reopen(t, dataDir, agent);
  assert.equal(m.db.get('task', task)?.status, 'failure');
  for (const cls of ['VM', 'VDI', 'VBD', 'VIF', 'SR', 'host', 'pool', 'task'])
    for (const [ref, row] of m.db.all(cls))
      assert.deepEqual(row.current_operations, {}, `${cls} ${ref} keeps no dead operation`);
  const rec = m.db.get('VM', vm)!;
  assert.ok((rec.allowed_operations as string[]).includes('start'), 'allowed_operations recomputed');
  await call('VM.start', vm, false, false);
  assert.equal(m.db.get('VM', vm)!.power_state, 'Running');
  await call('VM.hard_shutdown', vm);
  await call('VM.destroy', vm);
  assert.equal(m.db.has('VM', vm), false);
});

test('SIGKILL mid VM.start while QEMU came up: the restarted manager adopts the running VM', async (t) => {
  const dataDir = tempDir(t, 'berth-reliability-');
  const out = await runAndKill(t, dataDir, ['start'], 'started');
  const [, vm] = out.match(/started (\S+)/)!;
  const agent = new FakeAgent();
  const { m, call } = await reopen(t, dataDir, agent);
  const uuid = String(m.db.get('VM', vm)!.uuid);
  agent.instances.set(uuid, { uuid, state: 'running' });
  agent.reconnected();
  const deadline = Date.now() + 5000;
  while (m.db.get('VM', vm)!.power_state !== 'Running' && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  assert.equal(m.db.get('VM', vm)!.power_state, 'Running');
  assert.ok((m.db.get('VM', vm)!.allowed_operations as string[]).includes('hard_shutdown'));
  await call('VM.hard_shutdown', vm);
  await call('VM.destroy', vm);
});
