// Golden tests of the generated QEMU argv (one argument per line in test/agent/qemu/golden/).
// Regenerate after an intended change with UPDATE_GOLDEN=1 and review the diff (refused under CI).
import assert from 'node:assert/strict';
import { assertGolden } from '../../helpers/golden.js';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  devNodes,
  type LaunchOptions,
  launcherArgs,
  memoryMiB,
  optValue,
  qemuArgs,
  runtimePaths,
} from '../../../src/agent/qemu/command-line.js';
import type { InstanceSpec } from '../../../src/shared/noded/instance.js';

const GOLDEN = join(fileURLToPath(new URL('.', import.meta.url)), 'golden');
const paths = runtimePaths('/run/berth/vms', '/var/log/berth/vms', '6f9a3c1e-2b7d-4e8a-9c0f-1a2b3c4d5e6f');

const minimal: InstanceSpec = {
  uuid: '6f9a3c1e-2b7d-4e8a-9c0f-1a2b3c4d5e6f',
  name: 'test guest',
  vcpus: 1,
  vcpusMax: 1,
  memoryBytes: 256 * 1024 * 1024,
  memoryMaxBytes: 256 * 1024 * 1024,
  kernel: '/var/lib/berth/guest/vmlinuz',
  initrd: '/var/lib/berth/guest/initrd.img',
  cmdline: 'console=ttyS0 quiet',
  disks: [],
  nics: [],
  balloon: false,
  startPaused: false,
};

const full: InstanceSpec = {
  ...minimal,
  name: 'web,01',
  vcpus: 2,
  vcpusMax: 4,
  memoryBytes: 512 * 1024 * 1024,
  memoryMaxBytes: 1024 * 1024 * 1024,
  disks: [
    { path: '/srv/sr/a,b.qcow2', format: 'qcow2', readonly: false, device: '0', bootable: true },
    { path: '/dev/VG_XenStorage-1/LV-2', format: 'raw', readonly: true, device: '1' },
    { path: '', format: 'raw', readonly: true, device: '3', cdrom: true },
    { path: '/srv/iso/debian.iso', format: 'raw', readonly: true, device: '4', cdrom: true },
  ],
  nics: [
    { mac: '52:54:00:12:34:56', bridge: 'xenbr0', device: '0', tap: 'vif-1a2b-0' },
    { mac: '52:54:00:12:34:57', bridge: 'xenbr1', device: '1', tap: 'vif-1a2b-1', mtu: 9000 },
  ],
  balloon: true,
  vnc: 'localhost',
};

function golden(name: string, args: string[]) {
  const file = join(GOLDEN, `${name}.argv`);
  const text = `${args.join('\n')}\n`;
  assertGolden(file, text, `argv differs from ${file}`);
}

const cases: [string, InstanceSpec, LaunchOptions][] = [
  ['minimal-tcg', minimal, { accel: 'tcg' }],
  ['full-kvm-runas', full, { accel: 'kvm', runAs: 'berth-qemu' }],
  ['incoming-no-vnc', { ...minimal, vnc: 'none', startPaused: true }, { accel: 'tcg', incoming: true }],
  // A per-VM identity: -runas UID:GID (and the sandbox lets the drop through).
  [
    'tcg-identity',
    minimal,
    { accel: 'tcg', identity: { uid: 1900000003, gid: 1900000003 }, privateDev: true },
  ],
];

test("launcher: TAP descriptors, then a private /dev with the VM's block devices (and /dev/kvm under KVM)", () => {
  assert.deepEqual(launcherArgs(full, 'qemu', ['-S'], { accel: 'kvm', privateDev: true }), [
    'exec',
    '--tap',
    'vif-1a2b-0=4',
    '--tap',
    'vif-1a2b-1=5',
    '--private-dev',
    '--dev',
    '/dev/VG_XenStorage-1/LV-2',
    '--dev',
    '/dev/kvm',
    '--',
    'qemu',
    '-S',
  ]);
  assert.deepEqual(devNodes(minimal, 'tcg'), []);
  assert.deepEqual(launcherArgs(minimal, 'qemu', [], { accel: 'tcg' }), ['exec', '--', 'qemu']);
});

for (const [name, spec, opts] of cases) {
  test(`argv golden: ${name}`, () => golden(name, qemuArgs(spec, paths, opts)));
}

test('argv: every option value with a comma is escaped and no argument is empty', () => {
  const args = qemuArgs(full, runtimePaths('/run/a,b', '/log', full.uuid), { accel: 'tcg' });
  assert.ok(args.includes('guest=web,,01,debug-threads=on'));
  assert.ok(args.some((a) => a.includes('path=/run/a,,b/6f9a3c1e-2b7d-4e8a-9c0f-1a2b3c4d5e6f/qmp.sock')));
  assert.ok(args.every((a) => a.length > 0));
  assert.equal(optValue('a,,b'), 'a,,,,b');
});

test('memory: -m is the static maximum, never below 16 MiB', () => {
  assert.equal(memoryMiB(full), 1024);
  assert.equal(memoryMiB({ ...minimal, memoryMaxBytes: 0 }), 256);
  assert.equal(memoryMiB({ ...minimal, memoryBytes: 1, memoryMaxBytes: 0 }), 16);
});

test('runtime paths live under the per-VM directory, the console log outside it', () => {
  assert.equal(paths.dir, '/run/berth/vms/6f9a3c1e-2b7d-4e8a-9c0f-1a2b3c4d5e6f');
  for (const p of [paths.qmp, paths.serial, paths.vnc, paths.pid, paths.spec, paths.errLog])
    assert.ok(p.startsWith(`${paths.dir}/`));
  assert.equal(paths.consoleLog, '/var/log/berth/vms/6f9a3c1e-2b7d-4e8a-9c0f-1a2b3c4d5e6f.log');
});
