// berth-fdpass with a real QEMU running as berth-qemu (or nobody where that user is absent), in a
// test network namespace: the boot-time TAP is inherited as a descriptor, a hot-plugged TAP is
// passed with getfd (SCM_RIGHTS) on the fd-passing monitor, and QEMU itself cannot open
// /dev/net/tun (0600) after its drop — the way QEMU used to open hot-plugged TAPs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { launcherArgs, tapFds } from '../../../src/agent/qemu/command-line.js';
import { fdpassBinary } from '../../../src/agent/qemu/fdpass.js';
import { lookupUser } from '../../../src/agent/qemu/proc.js';
import { QmpClient } from '../../../src/agent/qemu/qmp.js';
import { run } from '../../../src/shared/exec.js';
import { tempDir } from '../../helpers/tmp.js';
import { execIn, ipIn, netns } from '../network/netns.js';
import { pidAlive, sleep, spec } from '../helpers/guest.js';

const USER = lookupUser('berth-qemu') ? 'berth-qemu' : 'nobody';

/** The TAP names QEMU's descriptors are attached to (tun fdinfo shows `iff:`). */
function tapsHeldBy(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      // (not by the link's name: a descriptor opened in another mount namespace reads oddly)
      const m = /iff:\s*(\S+)/.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) out.push(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  return out.sort();
}

test('launcher argv: each boot NIC TAP onto its descriptor from 4 (3 is the resume image)', () => {
  const s = spec('0c0c0c0c-1111-4222-8333-444455556667', {
    nics: [
      { device: '0', mac: '52:54:00:00:00:01', bridge: 'b', tap: 'ta' },
      { device: '1', mac: '52:54:00:00:00:02', bridge: 'b', tap: 'tb' },
    ],
  });
  assert.deepEqual(tapFds(s), [
    { tap: 'ta', fd: 4 },
    { tap: 'tb', fd: 5 },
  ]);
  assert.deepEqual(launcherArgs(s, 'qemu', ['-S']), [
    'exec',
    '--tap',
    'ta=4',
    '--tap',
    'tb=5',
    '--',
    'qemu',
    '-S',
  ]);
});

test('unprivileged QEMU gets its TAPs as descriptors at boot and on hot-plug; it cannot open /dev/net/tun', {
  timeout: 120_000,
}, async (t) => {
  const who = lookupUser(USER)!;
  const bin = await fdpassBinary();
  const ns = await netns(t, 'fdp');
  for (const tap of ['bfdp0', 'bfdp1', 'bfdp2'])
    await ipIn(ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', '0');
  const dir = tempDir(t, 'berth-fdpass-');
  const qmpSock = join(dir, 'qmp.sock');
  const fdSock = join(dir, 'fdpass.sock');
  const qemuArgs = [
    '-machine',
    'q35,accel=tcg',
    '-nodefaults',
    '-display',
    'none',
    '-S',
    '-chardev',
    `socket,id=qmp,path=${qmpSock},server=on,wait=off`,
    '-mon',
    'chardev=qmp,mode=control',
    '-chardev',
    `socket,id=fdpass,path=${fdSock},server=on,wait=off`,
    '-mon',
    'chardev=fdpass,mode=control',
    '-netdev',
    'tap,id=n0,fd=4',
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny',
    '-runas',
    USER,
  ];
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, bin, 'exec', '--tap', 'bfdp0=4', '--', 'qemu-system-x86_64', ...qemuArgs],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const pid = child.pid!;
  t.after(() => {
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  for (let i = 0; !existsSync(qmpSock); i++) {
    if (i > 300 || child.exitCode !== null) throw new Error(`QEMU did not start: ${stderr}`);
    await sleep(50);
  }
  const qmp = await QmpClient.connect(qmpSock);
  t.after(() => qmp.close());
  // `ip netns exec` execs too: the same pid is QEMU, dropped to its user.
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  assert.match(status, new RegExp(`^Uid:\\s+${who.uid}\\s`, 'm'));
  assert.deepEqual(tapsHeldBy(pid), ['bfdp0'], 'the boot NIC is the inherited TAP');

  // Hot-plug: the helper (root) opens the TAP and passes it; netdev_add names it on that monitor.
  const add = await execIn(
    ns,
    bin,
    'qmp',
    fdSock,
    'tap-n1',
    JSON.stringify({ execute: 'netdev_add', arguments: { type: 'tap', id: 'n1', fd: 'tap-n1' } }),
    '--tap',
    'bfdp1',
  );
  assert.equal(add.code, 0, add.stderr + add.stdout);
  assert.match(add.stdout, /"return"/);
  assert.deepEqual(tapsHeldBy(pid), ['bfdp0', 'bfdp1']);
  // A refused command (duplicate id) exits 2 with QEMU's error and leaves no descriptor behind.
  const dup = await execIn(
    ns,
    bin,
    'qmp',
    fdSock,
    'tap-n1b',
    JSON.stringify({ execute: 'netdev_add', arguments: { type: 'tap', id: 'n1', fd: 'tap-n1b' } }),
    '--tap',
    'bfdp2',
  );
  assert.equal(dup.code, 2);
  assert.match(dup.stdout, /"error"/);
  assert.deepEqual(tapsHeldBy(pid), ['bfdp0', 'bfdp1']);
  // A TAP that does not exist yet is created, as QEMU's ifname= did (the manager makes VIF TAPs
  // once the VM runs and adopts this one), non-persistent: it goes with QEMU.
  const fresh = await execIn(
    ns,
    bin,
    'qmp',
    fdSock,
    'tap-n3',
    JSON.stringify({ execute: 'netdev_add', arguments: { type: 'tap', id: 'n3', fd: 'tap-n3' } }),
    '--tap',
    'bfdpnew',
  );
  assert.equal(fresh.code, 0, fresh.stderr + fresh.stdout);
  assert.deepEqual(tapsHeldBy(pid), ['bfdp0', 'bfdp1', 'bfdpnew']);
  // Held by QEMU, it cannot be taken by anybody else, root included (single queue: EBUSY).
  const taken = await execIn(
    ns,
    bin,
    'qmp',
    fdSock,
    'tap-n4',
    '{"execute":"query-status"}',
    '--tap',
    'bfdp1',
  );
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /TUNSETIFF bfdp1: Device or resource busy/);

  // What QEMU did before: open the TAP by name itself, after its drop → /dev/net/tun refused.
  if ((statSync('/dev/net/tun').mode & 0o006) !== 0o006)
    await assert.rejects(
      qmp.command('netdev_add', { type: 'tap', id: 'n2', ifname: 'bfdp2', script: 'no', downscript: 'no' }),
      /could not open \/dev\/net\/tun: Permission denied/,
    );
  process.kill(pid, 'SIGKILL');
  for (let i = 0; pidAlive(pid) && i < 100; i++) await sleep(50);
  assert.equal(
    (await run('ip', ['-n', ns, 'link', 'show', 'bfdpnew'])).code,
    1,
    'the created TAP went with QEMU',
  );
  assert.equal((await run('ip', ['-n', ns, 'link', 'show', 'bfdp1'])).code, 0, 'persistent TAPs stay');
});
