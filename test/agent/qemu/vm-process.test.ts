// QemuVm against real QEMU under TCG. The first group needs no guest (QEMU stays in its firmware);
// the second boots the test guest twice (a fresh boot, then a resume from a suspend image).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { runtimePaths } from '../../../src/agent/qemu/command-line.js';
import { isQemuFor, lookupUser } from '../../../src/agent/qemu/proc.js';
import { exitOutcome, QemuVm } from '../../../src/agent/qemu/vm-process.js';
import type { InstanceState } from '../../../src/shared/noded/instance.js';
import { execFileSync } from 'node:child_process';
import { tempDir } from '../../helpers/tmp.js';
import { guest, killQemusUnder, logSize, pidAlive, spec, typeLine, waitForLog } from '../helpers/guest.js';

const UUID_A = '0a0a0a0a-1111-4222-8333-444455556666';
const UUID_B = '0b0b0b0b-1111-4222-8333-444455556666';

function setup(t: TestContext) {
  const dir = tempDir(t, 'berth-vmproc-');
  const runRoot = join(dir, 'run');
  t.after(() => killQemusUnder(runRoot));
  return { dir, paths: (uuid: string) => runtimePaths(runRoot, join(dir, 'log'), uuid) };
}

/** Records [state, reason] pairs and resets. */
function recorder(vm: QemuVm) {
  const seen: string[] = [];
  vm.on('state', (s: InstanceState, r?: string) => seen.push(`${s}:${r}`));
  vm.on('reset', (r: string) => seen.push(`reset:${r}`));
  return seen;
}

test('exit outcome: who stopped QEMU decides shutdown or crashed', () => {
  assert.deepEqual(exitOutcome(true, undefined), { state: 'shutdown', reason: 'stopped' });
  assert.deepEqual(exitOutcome(false, 'guest-shutdown'), { state: 'shutdown', reason: 'guest-shutdown' });
  assert.deepEqual(exitOutcome(false, 'guest-panic'), { state: 'crashed', reason: 'guest-panic' });
  assert.deepEqual(exitOutcome(false, 'host-signal'), { state: 'crashed', reason: 'host-signal' });
  assert.deepEqual(exitOutcome(false, undefined), { state: 'crashed', reason: 'qemu-exited' });
});

test('proc helpers: argv match and passwd lookup', () => {
  assert.ok(isQemuFor(['/usr/bin/qemu-system-x86_64', '-name', 'x', '-uuid', UUID_A], UUID_A));
  assert.ok(!isQemuFor(['/usr/bin/qemu-system-x86_64', '-uuid', UUID_B], UUID_A));
  assert.ok(!isQemuFor(['/bin/sleep', '-uuid', UUID_A], UUID_A));
  assert.deepEqual(lookupUser('root'), { uid: 0, gid: 0 });
  assert.deepEqual(lookupUser('65534:65534'), { uid: 65534, gid: 65534 });
  assert.equal(lookupUser('no-such-user-here'), undefined);
});

test('no guest: start paused, adopt from a second object, crash detection, hard stop', async (t) => {
  const { paths } = setup(t);
  const vm = new QemuVm(spec(UUID_A, { startPaused: true }), paths(UUID_A));
  await vm.launch({ accel: 'tcg' });
  assert.equal(vm.state, 'paused');
  const pid = vm.pid!;
  assert.ok(pidAlive(pid));
  assert.equal(statSync(paths(UUID_A).dir).mode & 0o777, 0o700);

  // A restarted agent: same runtime dir, new object, QMP reconnect.
  vm.detach();
  const again = new QemuVm(spec(UUID_A, { startPaused: true }), paths(UUID_A));
  assert.equal(await again.adopt(), true);
  assert.equal(again.pid, pid);
  assert.equal(again.state, 'paused');
  const seen = recorder(again);
  await again.unpause();
  await again.pause();
  assert.deepEqual(seen, ['running:resumed', 'paused:paused']);

  // Somebody SIGKILLs QEMU: reported as crashed, runtime dir removed.
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  assert.equal(await again.waitExit(5000), true);
  assert.ok(Date.now() - t0 < 1500, 'crash seen within ~1 s');
  assert.equal(again.state, 'crashed');
  assert.deepEqual(seen.at(-1), 'crashed:qemu-exited');
  assert.equal(existsSync(paths(UUID_A).dir), false);
  assert.equal(await new QemuVm(spec(UUID_A), paths(UUID_A)).adopt(), false);

  // Hard shutdown of a fresh one: quit; nothing left behind.
  const vm2 = new QemuVm(spec(UUID_B, { startPaused: true, vnc: 'localhost' }), paths(UUID_B));
  await vm2.launch({ accel: 'tcg' });
  assert.ok(vm2.info().vncPort! >= 5900, `vnc port ${vm2.info().vncPort}`);
  const pid2 = vm2.pid!;
  const seen2 = recorder(vm2);
  await vm2.hardShutdown();
  assert.deepEqual(seen2, ['shutdown:stopped']);
  assert.equal(pidAlive(pid2), false);
});

test('no guest: a start that QEMU refuses fails cleanly', async (t) => {
  const { dir, paths } = setup(t);
  const bad = join(dir, 'not-a-qcow2');
  execFileSync('truncate', ['-s', '1M', bad]);
  const vm = new QemuVm(
    spec(UUID_A, { disks: [{ path: bad, format: 'qcow2', readonly: false, device: '0' }] }),
    paths(UUID_A),
  );
  await assert.rejects(vm.launch({ accel: 'tcg' }), /QEMU failed to start: .*qcow2/i);
  assert.equal(existsSync(paths(UUID_A).dir), false);
});

test('test guest: console, balloon, guest and host reset, suspend, resume, guest power-off', async (t) => {
  const g = guest();
  const { dir, paths } = setup(t);
  const p = paths(UUID_A);
  const disk = join(dir, 'disk.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
  const s = spec(UUID_A, {
    kernel: g.kernel,
    initrd: g.initrd,
    cmdline: 'console=ttyS0 quiet',
    memoryBytes: 192 * 1024 * 1024,
    memoryMaxBytes: 256 * 1024 * 1024,
    balloon: true,
    disks: [{ path: disk, format: 'qcow2', readonly: false, device: '0' }],
  });
  const vm = new QemuVm(s, p);
  const seen = recorder(vm);
  await vm.launch({ accel: 'tcg' });
  assert.deepEqual(seen, ['running:started']);
  await waitForLog(p.consoleLog, /BERTH-GUEST-READY \S+ vcpus=1 mem=\d+kB/);

  // The serial console takes commands; the virtio disk and balloon drivers are there.
  await typeLine(
    p.serial,
    'echo disks=$(grep -c vda /proc/partitions) balloon=$(ls /sys/bus/virtio/drivers)',
  );
  await waitForLog(p.consoleLog, /disks=1 balloon=.*virtio_balloon/, 20_000);

  await vm.pause();
  await vm.unpause();
  await vm.balloon(160 * 1024 * 1024);

  // Guest-initiated reboot: a RESET from the guest, seen within a second; the guest boots again.
  let mark = logSize(p.consoleLog);
  const resetSeen = once(vm, 'reset');
  const t0 = Date.now();
  await typeLine(p.serial, 'reboot -f');
  assert.deepEqual(await resetSeen, ['guest-reset']);
  assert.ok(Date.now() - t0 < 1500, `reset after ${Date.now() - t0} ms`);
  await waitForLog(p.consoleLog, /BERTH-GUEST-READY/, 60_000, mark);

  // Host reset (hard reboot).
  const hostReset = once(vm, 'reset');
  await vm.reset();
  assert.deepEqual(await hostReset, ['host-reset']);
  mark = logSize(p.consoleLog);
  await waitForLog(p.consoleLog, /BERTH-GUEST-READY/, 60_000, mark);

  // Suspend to a file: QEMU ends, the image is complete.
  const image = join(dir, 'state', 'suspend.img');
  await vm.saveState(image);
  assert.equal(vm.state, 'shutdown');
  assert.ok(statSync(image).size > 1024 * 1024);
  assert.equal(existsSync(`${image}.partial`), false);

  // Resume from it: the same guest runs on (its shell answers) without booting again.
  const resumed = new QemuVm(s, p);
  const seenB = recorder(resumed);
  mark = logSize(p.consoleLog);
  await resumed.launch({ accel: 'tcg' }, image);
  assert.equal(resumed.state, 'running');
  await typeLine(p.serial, 'echo alive-$((40+2))');
  await waitForLog(p.consoleLog, /alive-42/, 20_000, mark);
  assert.doesNotMatch(
    (await import('node:fs')).readFileSync(p.consoleLog, 'utf8').slice(mark),
    /BERTH-GUEST-READY/,
  );

  // Guest-initiated power-off: seen within a second, reported as a shutdown (not a crash).
  const pid = resumed.pid!;
  const t1 = Date.now();
  await typeLine(p.serial, 'poweroff -f');
  assert.equal(await resumed.waitExit(5000), true);
  assert.ok(Date.now() - t1 < 1500, `power-off seen after ${Date.now() - t1} ms`);
  assert.deepEqual(seenB, ['running:started', 'shutdown:guest-shutdown']);
  assert.equal(pidAlive(pid), false);
});

test('clean shutdown right after start (before the guest kernel listens) powers off well before the deadline', {
  timeout: 240_000,
}, async (t) => {
  const { kernel, initrd } = guest();
  const { paths } = setup(t);
  const p = paths(UUID_B);
  const vm = new QemuVm(spec(UUID_B, { kernel, initrd, cmdline: 'console=ttyS0' }), p);
  await vm.launch({ accel: 'tcg' });
  const t0 = Date.now();
  // The first press reaches firmware/early kernel and is lost; only repeated presses can work.
  const done = await vm.cleanShutdown(150_000);
  const took = Date.now() - t0;
  assert.equal(done, true, `powered off (after ${took} ms)`);
  assert.ok(vm.presses > 0, 'the button was pressed again');
  assert.ok(took < 120_000, `well before the deadline: ${took} ms`);
  assert.match(await waitForLog(p.consoleLog, /BERTH-GUEST-POWEROFF/, 1000), /POWEROFF/);
  assert.equal(vm.state, 'shutdown');
});
