// QEMU as an unprivileged user (-runas), through the agent (startAgent in-process, runAs
// 'nobody': an existing unprivileged user, so the test never adds one — a `berth-qemu` user
// appearing on a shared machine would switch every other agent started meanwhile to it).
// The agent's socket dir, run root and state root are one mkdtemp (0700) directory, as
// /run/berth and /var/lib/berth are private: the agent's own directories stay root's (QEMU needs
// nothing there after its drop), the DAC labelling opens the storage directories under the state
// root, and:
//   - QEMU runs as nobody;
//   - a hot-plugged qcow2 with a backing file in a 0700 directory is read by the guest, and its
//     owner comes back on unplug and when QEMU ends;
//   - a CD medium inserted into a running VM is made readable for it;
//   - an image behind a private directory outside the state root is refused, nothing changed;
//   - suspend (QEMU writes into a descriptor the agent passes it: the run dir stays 0700) and
//     resume work, with a disk
//     opened at start in a directory QEMU's user cannot enter (no reopen by name: the -drive has
//     auto-read-only=off).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../../src/agent/agent.js';
import { runtimePaths } from '../../../src/agent/qemu/command-line.js';
import { lookupUser } from '../../../src/agent/qemu/proc.js';
import type { DiskSpec } from '../../../src/shared/noded/instance.js';
import { tempDir } from '../../helpers/tmp.js';
import { guest, killQemusUnder, logSize, spec, typeLine, waitForLog } from '../helpers/guest.js';

const UUID = '0e0e0e0e-1111-4222-8333-444455556666';

const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const mode = (p: string) => statSync(p).mode & 0o777;

test('QEMU as nobody: hot-plugged qcow2 chain from a private directory, owners restored, suspend and resume', {
  timeout: 300_000,
}, async (t) => {
  const who = lookupUser('nobody');
  if (!who || who.uid === 0) return t.skip('no unprivileged user nobody on this machine');
  const { kernel, initrd } = guest();
  const dir = tempDir(t, 'berth-runas-');
  const runRoot = join(dir, 'run');
  const logRoot = join(dir, 'log');
  t.after(() => killQemusUnder(runRoot));
  const agent = await startAgent({
    socketPath: join(dir, 'agent.sock'),
    runRoot,
    logRoot,
    stateRoots: [dir],
    accel: 'tcg',
    runAs: 'nobody',
  });
  t.after(() => agent.close());
  // The agent's directories: root's alone.
  assert.equal(mode(dir), 0o700);
  assert.equal(mode(join(dir, 'agent.sock')), 0o600);

  // A base image with a marker, and a thin child over it (as the file SR makes clones), in a
  // private SR directory.
  const sr = join(dir, 'sr');
  mkdirSync(sr, { mode: 0o700 });
  const base = join(sr, '.base.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x42 0 512', base], { stdio: 'ignore' });
  const leaf = join(sr, 'leaf.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', '.base.qcow2', leaf]);
  chmodSync(base, 0o600);
  chmodSync(leaf, 0o600);
  // An image behind a private directory outside the state root.
  const outside = tempDir(t, 'berth-runas-outside-');
  const stray = join(outside, 'stray.raw');
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', stray, '1M']);

  // A disk present at start in a directory nobody may enter: QEMU opens it as root before the
  // drop, and never by name again (suspend inactivates it, resume activates it).
  const privateDir = join(dir, 'private');
  mkdirSync(privateDir, { mode: 0o700 });
  const bootDisk = join(privateDir, 'boot.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', bootDisk, '8M']);
  chmodSync(bootDisk, 0o600);

  const s = spec(UUID, {
    kernel,
    initrd,
    cmdline: 'console=ttyS0',
    disks: [
      { device: 'xvda', path: bootDisk, format: 'qcow2', readonly: false },
      { device: 'xvdd', path: '', format: 'raw', readonly: true, cdrom: true },
    ],
  });
  const info = await agent.vms.start(s);
  assert.equal(uidOf(info.pid!), who.uid, 'QEMU dropped to nobody');
  const paths = runtimePaths(runRoot, logRoot, UUID);
  assert.equal(mode(runRoot), 0o700);
  assert.equal(mode(paths.dir), 0o700);
  await waitForLog(paths.consoleLog, /BERTH-GUEST-READY/, 120_000);

  await assert.rejects(
    agent.vms.hotplug(
      UUID,
      'hotadd',
      'disk',
      { device: 'xvdc', path: stray, format: 'raw', readonly: false },
      30_000,
    ),
    /cannot reach .*outside the storage roots/,
  );
  assert.equal(statSync(stray).uid, 0, 'refused: the image is not touched');
  assert.equal(mode(outside), 0o700, 'refused: a directory outside the roots is not touched');

  const disk: DiskSpec = { device: 'xvdb', path: leaf, format: 'qcow2', readonly: false };
  await agent.vms.hotplug(UUID, 'hotadd', 'disk', disk, 30_000);
  assert.equal(statSync(leaf).uid, who.uid, 'the leaf belongs to the QEMU user');
  assert.equal(statSync(base).uid, 0, 'the backing file keeps its owner');
  assert.equal(statSync(base).gid, who.gid);
  assert.equal(mode(base), 0o640, "the backing file is readable by QEMU's group");
  assert.equal(mode(sr), 0o701, 'the SR directory is searchable, not listable');
  let from = logSize(paths.consoleLog);
  await typeLine(
    paths.serial,
    'for i in $(seq 1 100); do [ -b /dev/vdb ] && break; sleep 0.2; done; echo BYTES=$(head -c 4 /dev/vdb | od -An -tx1 | tr -d " ")',
  );
  assert.match(await waitForLog(paths.consoleLog, /BYTES=\w+/, 60_000, from), /BYTES=42424242/);

  await agent.vms.hotplug(UUID, 'hotremove', 'disk', { device: 'xvdb' } as DiskSpec, 60_000);
  assert.equal(statSync(leaf).uid, 0, 'unplugged: the leaf has its owner back');
  assert.equal(mode(leaf), 0o600);

  // CD media inserted after the drop: made readable (group), never given away.
  const isoDir = join(sr, 'iso');
  mkdirSync(isoDir, { mode: 0o700 });
  const iso = join(isoDir, 'cd.iso');
  writeFileSync(iso, Buffer.alloc(2048 * 16), { mode: 0o600 });
  const cd: DiskSpec = { device: 'xvdd', path: iso, format: 'raw', readonly: true, cdrom: true };
  await agent.vms.hotplug(UUID, 'hotmod', 'disk', cd, 30_000);
  assert.equal(statSync(iso).uid, 0);
  assert.equal(statSync(iso).gid, who.gid);
  assert.equal(mode(iso), 0o640);
  await agent.vms.hotplug(UUID, 'hotmod', 'disk', { ...cd, path: '' }, 30_000);

  // Suspend: QEMU, already nobody, writes into the descriptor berth-fdpass passes it.
  assert.equal(mode(runRoot), 0o700);
  assert.equal(mode(paths.dir), 0o700);
  const image = join(dir, 'suspend', `${UUID}.state`);
  await agent.vms.suspend(UUID, image);
  assert.ok(statSync(image).size > 1024 * 1024, 'the state was written');
  assert.equal(agent.vms.info(UUID).state, 'absent');
  const resumed = await agent.vms.resume(s, image);
  assert.equal(uidOf(resumed.pid!), who.uid);
  from = logSize(paths.consoleLog);
  await typeLine(paths.serial, 'echo RESUMED-$((6*7))');
  await waitForLog(paths.consoleLog, /RESUMED-42/, 60_000, from);

  // A disk still plugged when QEMU ends gets its owner back too.
  await agent.vms.hotplug(UUID, 'hotadd', 'disk', disk, 30_000);
  assert.equal(statSync(leaf).uid, who.uid);
  await agent.vms.shutdown(UUID, false, 10_000);
  assert.equal(statSync(leaf).uid, 0, 'QEMU ended: the leaf has its owner back');
  assert.equal(mode(leaf), 0o600);
  assert.equal(mode(privateDir), 0o700, 'start-time files need no labels');
  assert.equal(statSync(bootDisk).uid, 0);
});
