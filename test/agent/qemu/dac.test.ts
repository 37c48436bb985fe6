// The DAC plan for files an unprivileged QEMU opens after dropping privileges (pure: a fake stat).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ancestors,
  type FileState,
  insideRoots,
  type Label,
  planAccess,
  planRestore,
} from '../../../src/agent/qemu/dac.js';

const QEMU = { uid: 64055, gid: 64055 };
const ROOTS = ['/var/lib/berth'];

// A host: /var/lib/berth the gate berth-up.sh makes (root:berth-qemu 0710), an SR directory
// (0700) with a thin clone over a private base, an ISO directory, a 0700 admin directory.
const FS: Record<string, FileState> = {
  '/var': { mode: 0o40755, uid: 0, gid: 0 },
  '/var/lib': { mode: 0o40755, uid: 0, gid: 0 },
  '/var/lib/berth': { mode: 0o40710, uid: 0, gid: 64055 },
  '/var/lib/berth/sr': { mode: 0o40700, uid: 0, gid: 0 },
  '/var/lib/berth/sr/default': { mode: 0o40700, uid: 0, gid: 0 },
  '/var/lib/berth/sr/default/leaf.qcow2': { mode: 0o100644, uid: 0, gid: 0 },
  '/var/lib/berth/sr/default/base.qcow2': { mode: 0o100600, uid: 0, gid: 0 },
  '/var/lib/berth/sr/qemu-group': { mode: 0o40700, uid: 0, gid: 64055 },
  '/var/lib/berth/sr/qemu-group/disk.qcow2': { mode: 0o100600, uid: 64055, gid: 64055 },
  '/var/lib/berth/sr/iso': { mode: 0o40755, uid: 0, gid: 0 },
  '/var/lib/berth/sr/iso/cd.iso': { mode: 0o100644, uid: 0, gid: 0 },
  '/root': { mode: 0o40700, uid: 0, gid: 0 },
  '/root/images': { mode: 0o40755, uid: 0, gid: 0 },
  '/root/images/a.qcow2': { mode: 0o100644, uid: 0, gid: 0 },
  '/tmp': { mode: 0o41777, uid: 0, gid: 0 },
  '/tmp/x': { mode: 0o40700, uid: 0, gid: 0 },
  '/tmp/x/a.raw': { mode: 0o100600, uid: 0, gid: 0 },
};
const stat = (p: string) => {
  const st = FS[p];
  if (!st) throw new Error(`ENOENT ${p}`);
  return st;
};

test('leaf owned by the QEMU user, backing file group-readable, SR directories searchable', () => {
  const sr = '/var/lib/berth/sr/default';
  assert.deepEqual(planAccess(`${sr}/leaf.qcow2`, [`${sr}/base.qcow2`], QEMU, stat, ROOTS), {
    changes: [
      { op: 'chown', path: `${sr}/leaf.qcow2`, uid: 64055, gid: 64055 },
      // the image one VM writes: nobody else's to read while labelled (was 0644)
      { op: 'chmod', path: `${sr}/leaf.qcow2`, mode: 0o600 },
      // o+x only (search, no listing); /var/lib/berth is already searchable by the group
      { op: 'chmod', path: sr, mode: 0o701 },
      { op: 'chmod', path: '/var/lib/berth/sr', mode: 0o701 },
      { op: 'chown', path: `${sr}/base.qcow2`, uid: 0, gid: 64055 },
      { op: 'chmod', path: `${sr}/base.qcow2`, mode: 0o640 },
    ],
    blocked: [],
  });
});

test('a directory of the QEMU group gets g+x, not o+x; files already right are left alone', () => {
  assert.deepEqual(planAccess('/var/lib/berth/sr/qemu-group/disk.qcow2', [], QEMU, stat, ROOTS), {
    changes: [
      { op: 'chmod', path: '/var/lib/berth/sr/qemu-group', mode: 0o710 },
      { op: 'chmod', path: '/var/lib/berth/sr', mode: 0o701 },
    ],
    blocked: [],
  });
});

test('read-only media: world-readable in searchable directories needs nothing', () => {
  assert.deepEqual(planAccess(undefined, ['/var/lib/berth/sr/iso/cd.iso'], QEMU, stat, ROOTS), {
    changes: [{ op: 'chmod', path: '/var/lib/berth/sr', mode: 0o701 }],
    blocked: [],
  });
  // A read-only disk is never chowned: its group may read it.
  const ro = planAccess(undefined, ['/var/lib/berth/sr/default/base.qcow2'], QEMU, stat, ROOTS);
  assert.deepEqual(ro.changes.slice(0, 2), [
    { op: 'chown', path: '/var/lib/berth/sr/default/base.qcow2', uid: 0, gid: 64055 },
    { op: 'chmod', path: '/var/lib/berth/sr/default/base.qcow2', mode: 0o640 },
  ]);
});

test('directories outside the roots are never changed: reported as blocking', () => {
  const p = planAccess('/root/images/a.qcow2', [], QEMU, stat, ROOTS);
  assert.deepEqual(p.blocked, ['/root']);
  assert.ok(!p.changes.some((c) => c.op === 'chmod' && c.path === '/root'));
  // /tmp itself is searchable by everyone; the private dir under it is outside the roots.
  assert.deepEqual(planAccess('/tmp/x/a.raw', [], QEMU, stat, ROOTS).blocked, ['/tmp/x']);
  // With it as a root, it may be opened, /tmp still not touched.
  assert.deepEqual(planAccess('/tmp/x/a.raw', [], QEMU, stat, ['/tmp/x']).changes, [
    { op: 'chown', path: '/tmp/x/a.raw', uid: 64055, gid: 64055 },
    { op: 'chmod', path: '/tmp/x', mode: 0o701 },
  ]);
  // `/` is never a root.
  assert.deepEqual(planAccess('/root/images/a.qcow2', [], QEMU, stat, ['/']).blocked, ['/root']);
});

test('a symlink QEMU is given: its directories must be searchable too', () => {
  const p = planAccess('/var/lib/berth/sr/qemu-group/disk.qcow2', [], QEMU, stat, ROOTS, [
    '/tmp/x/link.qcow2',
  ]);
  assert.deepEqual(p.blocked, ['/tmp/x']);
});

test('root needs nothing', () => {
  assert.deepEqual(
    planAccess(
      '/var/lib/berth/sr/default/leaf.qcow2',
      ['/root/images/a.qcow2'],
      { uid: 0, gid: 0 },
      stat,
      [],
    ),
    { changes: [], blocked: [] },
  );
});

test('restore: the previous owner and mode come back, unless somebody changed the file meanwhile', () => {
  const label: Label = { path: '/srv/a.qcow2', uid: 0, gid: 0, mode: 0o600, as: QEMU };
  assert.deepEqual(planRestore(label, { mode: 0o100600, uid: 64055, gid: 64055 }), [
    { op: 'chown', path: '/srv/a.qcow2', uid: 0, gid: 0 },
  ]);
  assert.deepEqual(planRestore({ ...label, mode: 0o400 }, { mode: 0o100600, uid: 64055, gid: 64055 }), [
    { op: 'chown', path: '/srv/a.qcow2', uid: 0, gid: 0 },
    { op: 'chmod', path: '/srv/a.qcow2', mode: 0o400 },
  ]);
  assert.deepEqual(planRestore(label, { mode: 0o100600, uid: 1000, gid: 1000 }), []);
});

test('ancestors and roots', () => {
  assert.deepEqual(ancestors('/a/b/c.img'), ['/a/b', '/a']);
  assert.deepEqual(ancestors('/c.img'), []);
  assert.ok(insideRoots('/var/lib/berth', ['/var/lib/berth/']));
  assert.ok(insideRoots('/var/lib/berth/sr', ['/var/lib/berth']));
  assert.ok(!insideRoots('/var/lib/berthx', ['/var/lib/berth']));
  assert.ok(!insideRoots('/var/lib', ['/var/lib/berth']));
  assert.ok(!insideRoots('/etc', ['/']));
});
