// A manager SIGKILLed with VM operations in flight: after a restart nothing stays blocked by the
// dead tasks, the VM agrees with the agent, and a VM copy/clone left either whole or gone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { parseConfig } from '../../../src/manager/config.js';
import { Manager } from '../../../src/manager/manager.js';
import { startTestAgent, withRealStorage } from '../../helpers/test-agent.js';
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
  // Storage over a real agent (its state root the data dir); instances are the fake's.
  const storage = (await startTestAgent(t, { stateRoot: dataDir })).client;
  const m = await Manager.open(config, {
    timers: false,
    agent: withRealStorage(agent, storage),
    networking: false,
  });
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

test('SIGKILL mid VM.copy/VM.clone: after restart no VM without its disks, no orphan disk', async (t) => {
  const dataDir = tempDir(t, 'berth-reliability-');
  await runAndKill(t, dataDir, ['clone', '2'], 'half');
  const { m, call } = await reopen(t, dataDir, new FakeAgent());
  const { db } = m;
  assert.ok(
    m.storageReport!.fixed.some((f) => f.includes('unfinished clone/copy')),
    `a copy was cut short and rolled back: ${m.storageReport!.fixed.join('; ')}`,
  );
  const vms = [...db.all('VM').values()].filter((r) => !r.is_control_domain && !r.is_default_template);
  const names = vms.map((r) => String(r.name_label)).sort();
  assert.deepEqual(
    names.filter((n) => !n.startsWith('copy')),
    ['clone0', 'clone1', 'src0', 'src1'],
  );
  for (const r of vms) {
    const disks = (r.VBDs as string[]).map((b) => db.get('VBD', b)!).filter((b) => b.type === 'Disk');
    assert.equal(disks.length, 2, `${r.name_label} has both its disks`);
    for (const b of disks) assert.ok(db.has('VDI', String(b.VDI)), `${r.name_label}: VDI of ${b.userdevice}`);
  }
  const used = new Set([...db.all('VBD').values()].map((b) => String(b.VDI)));
  const orphans = [...db.all('VDI')].filter(([ref, v]) => !used.has(ref) && !v.is_a_snapshot);
  assert.deepEqual(
    orphans.map(([, v]) => `${v.name_label} ${v.uuid}`),
    [],
    'every VDI belongs to a VM',
  );
  // base-* images are the shared parents of clones (the file SR's own, not VDIs).
  const files = readdirSync(join(dataDir, 'sr', 'default')).filter(
    (f) => !f.startsWith('.') && !f.startsWith('base-'),
  );
  const known = new Set([...db.all('VDI').values()].map((v) => String(v.location)));
  assert.deepEqual(
    files.filter((f) => !known.has(f) && !known.has(f.replace(/\.qcow2$/, ''))),
    [],
    'no leaked volume',
  );
  // The interrupted copies can be done again.
  const src0 = [...db.all('VM')].find(([, r]) => r.name_label === 'src0')![0];
  const again = await call<string>('VM.clone', src0, 'again');
  assert.equal((db.get('VM', again)!.VBDs as string[]).length, 2);
});
