// The agent daemon as a real process, driven through the shared noded client: procedures, errors,
// the push channel, and survival of VMs across an agent SIGKILL (re-adoption on restart, and a
// report for a VM whose QEMU died while the agent was down). One boot of the test guest.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { XenApiError } from '../../src/shared/errors.js';
import { AgentClient } from '../../src/shared/noded/client.js';
import type { InstanceEvent } from '../../src/shared/noded/instance.js';
import { AgentError } from '../../src/shared/noded/protocol.js';
import { tempDir } from '../helpers/tmp.js';
import { guest, killQemusUnder, pidAlive, ROOT, spec, typeLine, waitForLog } from './helpers/guest.js';

const VM = 'c0c0c0c0-1111-4222-8333-444455556666';
const DOOMED = 'd0d0d0d0-1111-4222-8333-444455556666';

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('agent daemon: RPC, push channel, SIGKILL and re-adoption', async (t) => {
  const g = guest();
  const dir = tempDir(t, 'berth-agent-');
  const socket = join(dir, 'sock', 'agent.sock');
  const runDir = join(dir, 'run');
  const logDir = join(dir, 'log');
  let agent: ChildProcess | undefined;
  const startAgent = async () => {
    agent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'src/agent/main.ts'),
        '--socket',
        socket,
        '--run-dir',
        runDir,
        '--log-dir',
        logDir,
        '--state-root',
        dir,
        '--accel',
        'tcg',
        '--run-as',
        'root',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, BERTH_LOG_LEVEL: 'warn' } },
    );
    await waitFor('agent socket', () => existsSync(socket) && statSync(socket).isSocket());
  };
  const client = new AgentClient(socket, { maxBackoffMs: 200 });
  const events: InstanceEvent[] = [];
  let connects = 0;
  client.on('event', (e: InstanceEvent) => events.push(e));
  client.on('connect', () => connects++);
  t.after(() => {
    client.close();
    agent?.kill('SIGKILL');
    killQemusUnder(runDir);
  });

  await startAgent();
  assert.equal(statSync(socket).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'sock')).mode & 0o777, 0o700);
  client.watch();
  await waitFor('push channel', () => client.connected);

  const v = await client.version();
  assert.equal(v.protocol, 1);
  assert.equal(v.accel, 'tcg');
  assert.match(v.qemu, /QEMU emulator version/);
  const node = (await client.nodeInfo()) as {
    cpu_count: number;
    memory_total: number;
    cpu_info: Record<string, string>;
  };
  assert.ok(node.cpu_count >= 1 && node.memory_total > node.cpu_count);
  assert.equal(node.cpu_info.cpu_count, String(node.cpu_count));

  // Errors: unknown procedure (HTTP 404), bad arguments (XenAPI error re-raised), plugin errors.
  await assert.rejects(
    client.call('no_such_procedure'),
    (e: unknown) => e instanceof AgentError && /404/.test(e.message),
  );
  await assert.rejects(
    client.start(spec('not-a-uuid')),
    (e: unknown) => e instanceof XenApiError && e.code === 'INVALID_VALUE' && e.params[0] === 'uuid',
  );
  await assert.rejects(
    client.call('instance_shutdown', [42]),
    (e: unknown) => e instanceof XenApiError && e.code === 'INVALID_VALUE',
  );
  await assert.rejects(
    client.pause(VM),
    (e: unknown) => e instanceof XenApiError && e.code === 'VM_BAD_POWER_STATE',
  );
  await assert.rejects(
    client.callPlugin('no-such-plugin', 'f', {}),
    (e: unknown) => e instanceof XenApiError && e.code === 'XENAPI_MISSING_PLUGIN',
  );
  assert.deepEqual(await client.info(VM), { uuid: VM, state: 'absent' });
  // Hot-plug input is checked before anything reaches QEMU: a value cannot inject QMP/qdev options.
  const isCode = (code: string, field?: string) => (e: unknown) =>
    e instanceof XenApiError && e.code === code && (field === undefined || e.params[0] === field);
  const disk = { device: 'xvdb', path: '/nonexistent.qcow2', format: 'qcow2', readonly: false };
  await assert.rejects(
    client.call('hotplug_device', [VM, 'hotadd', 'cpu', disk]),
    isCode('INVALID_VALUE', 'dev_type'),
  );
  await assert.rejects(
    client.call('hotplug_device', [VM, 'hotadd', 'disk', { ...disk, device: 'x,bus=evil' }]),
    isCode('INVALID_VALUE', 'disk device'),
  );
  await assert.rejects(
    client.call('hotplug_device', [VM, 'hotadd', 'disk', { ...disk, path: 'relative.qcow2' }]),
    isCode('INVALID_VALUE', 'disk path'),
  );
  await assert.rejects(
    client.call('hotplug_device', [VM, 'hotadd', 'disk', disk]),
    isCode('INVALID_VALUE', 'path'),
  );
  await assert.rejects(
    client.call('hotplug_device', [VM, 'hotadd', 'nic', { device: '1', mac: 'zz', tap: 't1', bridge: 'b' }]),
    isCode('INVALID_VALUE', 'nic mac'),
  );
  await assert.rejects(
    client.call('hotplug_device', [VM, 'hotadd', 'disk', null]),
    isCode('INVALID_VALUE', 'device'),
  );
  await assert.rejects(
    client.call('hotplug_device', [VM, 'hotremove', 'disk', { device: 'xvdb' }]),
    isCode('VM_BAD_POWER_STATE'),
  );
  await assert.rejects(client.call('instance_disk_resize', [VM, 'xvda', -1]), isCode('INVALID_VALUE'));
  await assert.rejects(client.call('hotplug_supported', [VM]), isCode('VM_BAD_POWER_STATE'));

  // A booting guest and a paused firmware-only VM.
  const info = await client.start(
    spec(VM, { kernel: g.kernel, initrd: g.initrd, cmdline: 'console=ttyS0 quiet' }),
  );
  assert.equal(info.state, 'running');
  await client.start(spec(DOOMED, { startPaused: true, vnc: 'none' }));
  await waitFor('start events', () => events.filter((e) => e.reason === 'started').length === 2);
  assert.deepEqual((await client.list()).sort(), [VM, DOOMED].sort());
  const cons = await client.console(VM);
  assert.equal(cons.vnc, join(runDir, VM, 'vnc.sock'));
  await waitForLog(cons.log!, /BERTH-GUEST-READY/);

  // The agent dies; the VMs do not. The doomed one's QEMU dies while nobody watches.
  const doomedPid = (await client.info(DOOMED)).pid!;
  agent!.kill('SIGKILL');
  await once(agent!, 'exit');
  await waitFor('push channel down', () => !client.connected);
  assert.ok(pidAlive(info.pid!), 'the guest survives the agent');
  process.kill(doomedPid, 'SIGKILL');
  await waitFor('doomed QEMU gone', () => !pidAlive(doomedPid));

  events.length = 0;
  await startAgent();
  await waitFor('reconnect', () => connects === 2 && client.connected);
  const lost = await waitFor('lost VM report', () => events.find((e) => e.uuid === DOOMED));
  assert.deepEqual(lost, { uuid: DOOMED, state: 'crashed', reason: 'qemu-died-while-agent-was-down' });
  const all = await client.all();
  assert.equal(all.length, 1);
  assert.equal(all[0].uuid, VM);
  assert.equal(all[0].state, 'running');
  assert.equal(all[0].pid, info.pid);

  // Still the same, still running guest: its shell answers; then a clean (ACPI) shutdown.
  await typeLine(cons.serial!, 'echo still-$((6*7))');
  await waitForLog(cons.log!, /still-42/, 20_000);
  await client.shutdown(VM, true, 30_000);
  await waitFor('shutdown event', () => events.find((e) => e.uuid === VM && e.state === 'shutdown'));
  assert.equal(pidAlive(info.pid!), false);
  assert.deepEqual(await client.all(), []);
  assert.equal(killQemusUnder(runDir), 0, 'no QEMU left behind');
});
