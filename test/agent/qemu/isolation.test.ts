// Per-VM isolation, for real: the agent (in-process, QEMU as berth-qemu with per-VM identities from
// a test range) runs two test guests. Each QEMU has its own uid/gid, recorded for adoption; its
// mount namespace has a private /dev with only null, zero, full, random and urandom; from inside
// one VM's namespace and as its uid, the other VM's disks cannot be opened (EACCES) while the
// owner VM reads its own hot-plugged disk; suspend/resume and hot-plug work; a restarted agent
// labels for the adopted VM's own uid; a stopped VM's id is free again.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../../src/agent/agent.js';
import { runtimePaths } from '../../../src/agent/qemu/command-line.js';
import { readIdentity } from '../../../src/agent/qemu/identity.js';
import { lookupUser } from '../../../src/agent/qemu/proc.js';
import type { DiskSpec } from '../../../src/shared/noded/instance.js';
import { tempDir } from '../../helpers/tmp.js';
import { guest, killQemusUnder, logSize, spec, typeLine, waitForLog } from '../helpers/guest.js';

const UUID_A = '0d0d0d0a-1111-4222-8333-444455556666';
const UUID_B = '0d0d0d0b-1111-4222-8333-444455556666';
const UUID_C = '0d0d0d0c-1111-4222-8333-444455556666';

const ids = (pid: number) => {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    uid: Number(/^Uid:\s+(\d+)/m.exec(st)![1]),
    gid: Number(/^Gid:\s+(\d+)/m.exec(st)![1]),
    groups: /^Groups:\s*(.*)$/m.exec(st)![1].trim(),
  };
};

/** Runs argv inside `pid`'s mount namespace as uid/gid. */
function inVmNs(pid: number, who: { uid: number; gid: number }, ...argv: string[]) {
  return spawnSync(
    'nsenter',
    ['-t', String(pid), '-m', '-S', String(who.uid), '-G', String(who.gid), '--', ...argv],
    { encoding: 'utf8' },
  );
}

/**
 * Types a line on the guest's console until `re` shows up: on a loaded machine a slow TCG guest
 * can miss characters of a line typed through a short-lived serial connection.
 */
async function typeUntil(p: { serial: string; consoleLog: string }, line: string, re: RegExp) {
  for (let i = 0; ; i++) {
    const from = logSize(p.consoleLog);
    await typeLine(p.serial, line);
    try {
      return await waitForLog(p.consoleLog, re, 30_000, from);
    } catch (e) {
      if (i === 3) throw e;
      await typeLine(p.serial, '\x03'); // drops a half-typed line (^C)
    }
  }
}

function rawWithMarker(path: string, marker: string) {
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', path, '8M']);
  const buf = readFileSync(path);
  buf.write(marker, 0, 'ascii');
  writeFileSync(path, buf);
}

test("per-VM uid/gid and private /dev: one VM cannot open another's disks; hot-plug, suspend, adoption", {
  timeout: 480_000,
}, async (t) => {
  if (!lookupUser('berth-qemu')) return t.skip('needs the berth-qemu user (scripts/qemu-user.sh)');
  const { kernel, initrd } = guest();
  const dir = tempDir(t, 'berth-isol-');
  const runRoot = join(dir, 'run');
  const logRoot = join(dir, 'log');
  t.after(() => killQemusUnder(runRoot));
  // A range of its own, so parallel agents on this machine never hand out the same ids.
  const idRange = { base: 1_900_100_000 + randomInt(0, 100_000) * 8, count: 8 };
  const opts = {
    socketPath: join(dir, 'agent.sock'),
    runRoot,
    logRoot,
    stateRoots: [dir],
    accel: 'tcg' as const,
    runAs: 'berth-qemu',
    idRange,
  };
  let agent = await startAgent(opts);
  t.after(() => agent.close());

  const sr = join(dir, 'sr');
  mkdirSync(sr, { mode: 0o700 });
  const diskA = join(sr, 'a.raw');
  const diskB = join(sr, 'b.raw');
  rawWithMarker(diskA, 'DISK-A');
  rawWithMarker(diskB, 'DISK-B');
  chmodSync(diskA, 0o600);
  chmodSync(diskB, 0o600);
  const vmSpec = (uuid: string, disk: string) =>
    spec(uuid, {
      kernel,
      initrd,
      cmdline: 'console=ttyS0',
      disks: [{ device: 'xvda', path: disk, format: 'raw', readonly: false }],
    });
  const a = await agent.vms.start(vmSpec(UUID_A, diskA));
  const b = await agent.vms.start(vmSpec(UUID_B, diskB));
  const idA = ids(a.pid!);
  const idB = ids(b.pid!);
  assert.notEqual(idA.uid, idB.uid, 'two VMs, two uids');
  for (const id of [idA, idB]) {
    assert.ok(id.uid >= idRange.base && id.uid < idRange.base + idRange.count, `uid ${id.uid} in the range`);
    assert.equal(id.gid, id.uid, 'its own gid');
    assert.equal(id.groups, String(id.gid), 'no supplementary groups');
  }
  const pathsA = runtimePaths(runRoot, logRoot, UUID_A);
  const pathsB = runtimePaths(runRoot, logRoot, UUID_B);
  assert.deepEqual(readIdentity(pathsA.dir), { uid: idA.uid, gid: idA.gid }, 'recorded for adoption');

  // Its own mount namespace, whose /dev holds only what QEMU needs.
  assert.notEqual(readlinkSync(`/proc/${a.pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'));
  const dev = inVmNs(a.pid!, { uid: 0, gid: 0 }, 'ls', '-1', '/dev');
  assert.deepEqual(dev.stdout.trim().split('\n').sort(), ['full', 'null', 'random', 'urandom', 'zero']);
  assert.match(inVmNs(a.pid!, { uid: 0, gid: 0 }, 'ls', '/dev/net/tun').stderr, /No such file/);

  await waitForLog(pathsA.consoleLog, /BERTH-GUEST-READY/, 180_000);
  await waitForLog(pathsB.consoleLog, /BERTH-GUEST-READY/, 180_000);

  // A disk hot-plugged into B: labelled for B's uid alone; B's guest reads it.
  const hp = join(sr, 'hp.raw');
  rawWithMarker(hp, 'BERTH-ISOL-HOTPLUG');
  chmodSync(hp, 0o644);
  await agent.vms.hotplug(
    UUID_B,
    'hotadd',
    'disk',
    { device: 'xvdb', path: hp, format: 'raw', readonly: false },
    30_000,
  );
  assert.equal(statSync(hp).uid, idB.uid);
  assert.equal(statSync(hp).mode & 0o777, 0o600, 'only its VM may read it meanwhile');
  await typeUntil(
    pathsB,
    'for i in $(seq 1 100); do [ -b /dev/vdb ] && break; sleep 0.2; done; head -c 18 /dev/vdb; echo ; echo HP-END',
    /BERTH-ISOL-HOTPLUG\s*\r?\nHP-END/,
  );

  // As A's QEMU (its namespace, uid, gid): B's disks are out of reach; as B's, its own is not.
  for (const f of [hp, diskB]) {
    const r = inVmNs(a.pid!, idA, 'head', '-c', '4', f);
    assert.notEqual(r.status, 0, `A read ${f}`);
    assert.match(r.stderr, /Permission denied/);
  }
  const own = inVmNs(b.pid!, idB, 'head', '-c', '18', hp);
  assert.equal(own.status, 0, own.stderr);
  assert.equal(own.stdout, 'BERTH-ISOL-HOTPLUG');

  // Suspend and resume A under its identity (the state file comes as a descriptor).
  const image = join(dir, 'suspend', `${UUID_A}.state`);
  await agent.vms.suspend(UUID_A, image);
  assert.ok(statSync(image).size > 1024 * 1024);
  const a2 = await agent.vms.resume(vmSpec(UUID_A, diskA), image);
  const idA2 = ids(a2.pid!);
  assert.ok(idA2.uid >= idRange.base && idA2.uid < idRange.base + idRange.count);
  assert.notEqual(idA2.uid, idB.uid);
  await typeUntil(pathsA, 'echo RESUMED-$((6*7))', /RESUMED-42/);

  // A restarted agent adopts both and labels a hot-plug for the adopted VM's own uid.
  await agent.close();
  agent = await startAgent({ ...opts, socketPath: join(dir, 'agent2.sock') });
  assert.deepEqual(
    agent.vms
      .all()
      .map((i) => i.uuid)
      .sort(),
    [UUID_A, UUID_B],
  );
  const hp2 = join(sr, 'hp2.raw');
  rawWithMarker(hp2, 'HP2');
  const disk2: DiskSpec = { device: 'xvdb', path: hp2, format: 'raw', readonly: false };
  await agent.vms.hotplug(UUID_A, 'hotadd', 'disk', disk2, 30_000);
  assert.equal(statSync(hp2).uid, idA2.uid);

  // Stopped VMs give their ids and labels back; the next VM gets the lowest id again.
  await agent.vms.shutdown(UUID_A, false, 10_000);
  await agent.vms.shutdown(UUID_B, false, 10_000);
  assert.equal(statSync(hp).uid, 0);
  assert.equal(statSync(hp).mode & 0o777, 0o644, 'the old mode is back');
  assert.equal(statSync(hp2).uid, 0);
  const c = await agent.vms.start(spec(UUID_C, { startPaused: true }));
  assert.equal(ids(c.pid!).uid, idRange.base);
  await agent.vms.shutdown(UUID_C, false, 10_000);
});
