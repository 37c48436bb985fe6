// QEMU as an unprivileged user (-runas): the DAC plan for files it opens after the drop (pure),
// then a real guest whose QEMU runs as `nobody` gets a hot-plugged qcow2 disk with a backing file
// in a private (0700) directory and reads the host's data from it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { grantImageAccess, planAccess } from '../../../src/agent/qemu/dac.js';
import { runtimePaths } from '../../../src/agent/qemu/command-line.js';
import { lookupUser } from '../../../src/agent/qemu/proc.js';
import { QemuVm } from '../../../src/agent/qemu/vm-process.js';
import { tempDir } from '../../helpers/tmp.js';
import { guest, killQemusUnder, logSize, spec, typeLine, waitForLog } from '../helpers/guest.js';

const UUID = '0e0e0e0e-1111-4222-8333-444455556666';

test('DAC plan: leaf owned by the QEMU user, backing files group-readable, dirs searchable', () => {
  const who = { uid: 64055, gid: 64055 };
  const fs: Record<string, { mode: number; uid: number; gid: number }> = {
    '/srv': { mode: 0o40755, uid: 0, gid: 0 },
    '/srv/sr': { mode: 0o40700, uid: 0, gid: 0 },
    '/srv/sr/leaf.qcow2': { mode: 0o100644, uid: 0, gid: 0 },
    '/srv/sr/.base.qcow2': { mode: 0o100600, uid: 0, gid: 0 },
    '/srv/iso': { mode: 0o40755, uid: 0, gid: 0 },
    '/srv/iso/cd.iso': { mode: 0o100644, uid: 0, gid: 0 },
  };
  const stat = (p: string) => fs[p];
  assert.deepEqual(planAccess('/srv/sr/leaf.qcow2', ['/srv/sr/.base.qcow2'], who, stat), [
    { op: 'chown', path: '/srv/sr/leaf.qcow2', uid: 64055, gid: 64055 },
    { op: 'chmod', path: '/srv/sr', mode: 0o701 },
    { op: 'chown', path: '/srv/sr/.base.qcow2', uid: 0, gid: 64055 },
    { op: 'chmod', path: '/srv/sr/.base.qcow2', mode: 0o640 },
  ]);
  // World-readable media in searchable directories: nothing to change.
  assert.deepEqual(planAccess(undefined, ['/srv/iso/cd.iso'], who, stat), []);
  // Root needs nothing.
  assert.deepEqual(planAccess('/srv/sr/leaf.qcow2', ['/srv/sr/.base.qcow2'], { uid: 0, gid: 0 }, stat), []);
});

test('QEMU as nobody: runs unprivileged and reads a hot-plugged disk from a private directory', {
  timeout: 240_000,
}, async (t) => {
  const who = lookupUser('nobody');
  if (!who) return t.skip('no user nobody on this machine');
  const { kernel, initrd } = guest();
  const dir = tempDir(t, 'berth-runas-');
  const runRoot = join(dir, 'run');
  t.after(() => killQemusUnder(runRoot));
  const paths = runtimePaths(runRoot, join(dir, 'log'), UUID);
  const sr = join(dir, 'sr');
  mkdirSync(sr, { mode: 0o700 });
  // A base image with a marker, and a thin child over it (as the file SR makes clones).
  const base = join(sr, '.base.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x42 0 512`, base], { stdio: 'ignore' });
  const leaf = join(sr, 'leaf.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', '.base.qcow2', leaf]);
  chmodSync(base, 0o600);
  chmodSync(leaf, 0o600);

  const vm = new QemuVm(spec(UUID, { kernel, initrd, cmdline: 'console=ttyS0' }), paths);
  await vm.launch({ accel: 'tcg', runAs: 'nobody' });
  const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${vm.pid}/status`, 'utf8'))![1];
  assert.equal(
    Number(uid),
    who.uid,
    `QEMU dropped to nobody: ${readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').split('\0').join(' ')}`,
  );
  await waitForLog(paths.consoleLog, /BERTH-GUEST-READY/, 120_000);

  // The agent's hot-plug path labels the chain first (InstanceManager does this under runAs).
  await grantImageAccess(leaf, 'qcow2', false, who);
  assert.equal(statSync(leaf).uid, who.uid);
  assert.equal(statSync(base).gid, who.gid);
  assert.equal(statSync(base).mode & 0o777, 0o640);
  assert.equal(statSync(sr).mode & 0o777, 0o701, 'the private directory is searchable, not listable');
  await vm.addDisk({ device: 'xvdb', path: leaf, format: 'qcow2', readonly: false });
  const from = logSize(paths.consoleLog);
  await typeLine(
    paths.serial,
    'for i in $(seq 1 100); do [ -b /dev/vda ] && break; sleep 0.2; done; echo BYTES=$(head -c 4 /dev/vda | od -An -tx1 | tr -d " ")',
  );
  assert.match(await waitForLog(paths.consoleLog, /BYTES=\w+/, 60_000, from), /BYTES=42424242/);
  await vm.hardShutdown();
});
