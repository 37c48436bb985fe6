// instance_disk_mirror with a real agent (QEMU under its own per-VM uid, as deployed) and the test
// guest: the guest's disk moves to another volume while it runs; the new volume holds what was
// written before (qemu-img compare right after the pivot) and the guest's writes after it (and
// the old one does not); the saved spec names the new path (an agent restart adopts the VM on
// it); the new image belongs to the VM's uid while it runs and gets its owner back after. Bad
// arguments are INVALID_VALUE.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { randomInt } from 'node:crypto';
import { type Agent, startAgent } from '../../../src/agent/agent.js';
import { runtimePaths } from '../../../src/agent/qemu/command-line.js';
import { lookupUser } from '../../../src/agent/qemu/proc.js';
import { savedSpec } from '../../../src/agent/qemu/vm-process.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import { tempDir } from '../../helpers/tmp.js';
import { guest, killQemusUnder, logSize, spec, typeLine, waitForLog } from '../helpers/guest.js';
import {
  cancelMirrors,
  finishMirrors,
  serveMirrorTargets,
  startMirrors,
  stopMirrorTargets,
  waitMirrorsReady,
} from '../../../src/agent/migration/mirror.js';
import { bareQemus, image, quit, sameContent, sh } from './mirror-qemu.js';

const UUID = '0e0e0e0e-1515-4333-8444-6d6972726f72';
const MiB = 1024 * 1024;

test('instance_disk_mirror moves a running disk to another volume', { timeout: 480_000 }, async (t) => {
  if (!lookupUser('berth-qemu')) return t.skip('needs the berth-qemu user (scripts/qemu-user.sh)');
  const { kernel, initrd } = guest();
  const startBare = bareQemus(t); // its QEMUs end before tempDir's removal
  let runRoot = '';
  let agent: Agent | undefined;
  let client: NodedAgentClient | undefined;
  t.after(async () => {
    client?.close();
    await agent?.close();
    if (runRoot) killQemusUnder(runRoot);
  });
  const dir = tempDir(t, 'berth-mirror-agent-');
  runRoot = join(dir, 'run');
  const logRoot = join(dir, 'log');
  const opts = {
    socketPath: join(dir, 'agent.sock'),
    runRoot,
    logRoot,
    stateRoots: [dir],
    accel: 'tcg' as const,
    runAs: 'berth-qemu',
    // A range of its own, so parallel agents on this machine never hand out the same ids.
    idRange: { base: 1_900_300_000 + randomInt(0, 100_000) * 8, count: 8 },
  };
  agent = await startAgent(opts);
  client = new NodedAgentClient(opts.socketPath);

  const sr = join(dir, 'sr');
  mkdirSync(sr, { mode: 0o700 });
  const oldImage = image(join(sr, 'old.qcow2'), '64M', [
    [0x61, MiB, 2 * MiB],
    [0x62, 40 * MiB, MiB],
  ]);
  const newImage = image(join(sr, 'new.qcow2'), '64M');
  chmodSync(oldImage, 0o640);
  chmodSync(newImage, 0o640);
  await client.call('instance_start', [
    spec(UUID, {
      kernel,
      initrd,
      cmdline: 'console=ttyS0',
      disks: [{ device: 'xvda', path: oldImage, format: 'qcow2', readonly: false }],
    }),
  ]);
  const paths = runtimePaths(runRoot, logRoot, UUID);
  await waitForLog(paths.consoleLog, /BERTH-GUEST-READY/, 240_000);
  const guestRun = async (line: string, re: RegExp) => {
    const from = logSize(paths.consoleLog);
    await typeLine(paths.serial, line);
    return waitForLog(paths.consoleLog, re, 60_000, from);
  };
  await guestRun(
    'echo BERTH-MIRROR-BEFORE | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo WROTE-1-$((6*7))',
    /WROTE-1-42/,
  );

  // Bad arguments: INVALID_VALUE, nothing started.
  const invalid = (param: string) => (e: unknown) => {
    assert.ok(e instanceof XenApiError, String(e));
    assert.equal(e.code, 'INVALID_VALUE');
    assert.equal(e.params[0], param);
    return true;
  };
  const target = { path: newImage, format: 'qcow2' };
  const mirror = (...args: unknown[]) => client!.call('instance_disk_mirror', args);
  await assert.rejects(mirror(42, 'xvda', target), invalid('uuid'));
  await assert.rejects(mirror(UUID, '../x', target), invalid('device'));
  await assert.rejects(mirror(UUID, 'xvdz', target), invalid('device'));
  await assert.rejects(mirror(UUID, 'xvda', 'x'), invalid('target'));
  await assert.rejects(mirror(UUID, 'xvda', { ...target, format: 'vmdk' }), invalid('target.format'));
  await assert.rejects(mirror(UUID, 'xvda', { ...target, extra: 1 }), invalid('target.extra'));
  await assert.rejects(mirror(UUID, 'xvda', { path: '/etc/passwd', format: 'raw' }), invalid('target.path'));
  await assert.rejects(
    mirror(UUID, 'xvda', { path: `${sr}/../../etc/x`, format: 'raw' }),
    invalid('target.path'),
  );
  await assert.rejects(mirror(UUID, 'xvda', { path: '/dev/sda', format: 'raw' }), invalid('target.path'));
  await assert.rejects(
    mirror(UUID, 'xvda', { path: join(sr, 'none.qcow2'), format: 'qcow2' }),
    invalid('target.path'),
  );
  await assert.rejects(mirror(UUID, 'xvda', { path: oldImage, format: 'qcow2' }), invalid('target'));
  await assert.rejects(
    mirror('0e0e0e0e-1515-4333-8444-000000000000', 'xvda', target),
    (e) => e instanceof XenApiError && e.code === 'VM_BAD_POWER_STATE',
  );
  assert.equal(statSync(newImage).uid, 0, 'a refused target is not labelled');
  // QEMU refuses a target of another size: the guest stays on its disk, the target's label and
  // node are undone.
  const small = image(join(sr, 'small.qcow2'), '32M');
  await assert.rejects(
    mirror(UUID, 'xvda', { path: small, format: 'qcow2' }),
    (e) =>
      e instanceof XenApiError &&
      e.code === 'INTERNAL_ERROR' &&
      /disk mirror of xvda/.test(String(e.params[0])),
  );
  assert.equal(statSync(small).uid, 0, 'the failed target got its owner back');
  assert.equal(savedSpec(paths)?.disks[0].path, oldImage);
  await agent.vms.withVm(UUID, async (vm) => {
    const qmp = vm.requireQmp();
    assert.deepEqual(await qmp.command('query-jobs'), []);
    const nodes = await qmp.command<{ 'node-name': string }[]>('query-named-block-nodes');
    assert.ok(!nodes.some((n) => n['node-name'].startsWith('dm')), 'no target node left');
  });

  await client.migration.instance_disk_mirror(UUID, 'xvda', { path: newImage, format: 'qcow2' });

  // QEMU now writes the new image as the VM's own uid; the old one is QEMU's no more.
  const pid = Number(readFileSync(paths.pid, 'utf8'));
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  assert.notEqual(uid, 0);
  assert.equal(statSync(newImage).uid, uid, 'the new image is labelled for the VM');
  assert.equal(statSync(newImage).mode & 0o777, 0o600);
  assert.equal(statSync(oldImage).uid, 0);
  assert.equal(savedSpec(paths)?.disks[0].path, newImage, 'the saved spec names the new image');
  // The copy right after the pivot: the old image is closed, the new one paused-equal to it.
  await client.call('instance_pause', [UUID]);
  assert.ok(sameContent(oldImage, newImage), 'the new image equals the old one at the pivot');
  await client.call('instance_unpause', [UUID]);

  // The guest's further writes land in the new volume only.
  await guestRun(
    `echo BERTH-MIRROR-AFTER | dd of=/dev/vda bs=512 seek=8 count=1 conv=sync 2>/dev/null; sync; echo WROTE-2-$((6*7))`,
    /WROTE-2-42/,
  );
  const read = (img: string, off: number) =>
    sh('qemu-io', '-r', '-U', '-f', 'qcow2', '-c', `read -v ${off} 32`, img);
  assert.match(read(newImage, 4096), /BERTH.MIRROR.AFT/);
  assert.doesNotMatch(read(oldImage, 4096), /BERTH.MIRROR.AFT/);
  assert.match(read(newImage, 0), /BERTH.MIRROR.BEF/);
  assert.match(
    sh('qemu-io', '-r', '-U', '-f', 'qcow2', '-c', `read -P 0x62 ${40 * MiB} ${MiB}`, newImage),
    /read/,
  );

  // An agent restart adopts the VM on its new disk.
  client.close();
  await agent.close();
  agent = await startAgent(opts);
  client = new NodedAgentClient(opts.socketPath);
  assert.equal(((await client.call('instance_info', [UUID])) as { state: string }).state, 'running');
  assert.equal(await agent.vms.withVm(UUID, async (vm) => vm.spec.disks[0].path), newImage);

  // The same disk (on its new node) mirrored for a migration: the source QEMU runs as the VM's
  // uid in its own mount namespace and gets its NBD connection as a descriptor; the guest writes
  // while the copy runs. A pause stands in for the completed memory migration.
  const migrated = image(join(dir, 'migrated.qcow2'), '64M');
  const dst = await startBare(join(dir, 'dst'), { xvda: migrated }, true);
  const socket = join(dir, 'mig', 'nbd.sock');
  const nbd = await serveMirrorTargets(dst.qmp, [{ device: 'xvda' }], {
    transport: 'unix',
    socket,
    fdpass: dst.fdpass,
  });
  await agent.vms.withVm(UUID, (vm) =>
    startMirrors(vm.requireQmp(), nbd, ['xvda'], { fdpass: vm.paths.fdpass }),
  );
  await guestRun(
    'echo BERTH-MIRROR-DURING | dd of=/dev/vda bs=512 seek=16 count=1 conv=sync 2>/dev/null; sync; echo WROTE-3-$((6*7))',
    /WROTE-3-42/,
  );
  const ready = await agent.vms.withVm(UUID, (vm) =>
    waitMirrorsReady(vm.requireQmp(), ['xvda'], { timeoutMs: 120_000 }),
  );
  assert.ok(ready.ready && ready.total >= 64 * MiB, JSON.stringify(ready));
  await client.call('instance_pause', [UUID]);
  const [cancelled] = await agent.vms.withVm(UUID, (vm) => cancelMirrors(vm.requireQmp()));
  assert.deepEqual(cancelled, { device: 'xvda', consistent: true });
  await agent.vms.withVm(UUID, (vm) => finishMirrors(vm.requireQmp(), ['xvda']));
  await stopMirrorTargets(dst.qmp, socket);
  await quit(dst);
  assert.ok(sameContent(newImage, migrated), 'the migration target equals the paused source');
  assert.match(read(migrated, 8192), /BERTH.MIRROR.DUR/);
  await client.call('instance_unpause', [UUID]);

  // When QEMU ends, the new image gets its owner and mode back.
  const kept = join(dir, 'kept.qcow2');
  await client.call('instance_shutdown', [UUID, false]);
  copyFileSync(newImage, kept);
  assert.equal(statSync(newImage).uid, 0);
  assert.equal(statSync(newImage).mode & 0o777, 0o640);
  assert.match(read(kept, 4096), /BERTH.MIRROR.AFT/);
});
