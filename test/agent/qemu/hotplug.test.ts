// Disk and CD hot-plug into a real guest (QEMU, TCG): the pure QMP command builders, then the
// test guest sees a hot-added virtio disk appear, reads what the host wrote on it, loses it again
// on hot-remove, and the port map / saved spec follow (a re-adopting agent sees the same devices).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { rootPorts, runtimePaths } from '../../../src/agent/qemu/command-line.js';
import {
  diskAddCommands,
  freePort,
  initialPorts,
  mediaCommand,
  nicAddCommands,
  type PortMap,
} from '../../../src/agent/qemu/hotplug.js';
import { savedSpec, QemuVm } from '../../../src/agent/qemu/vm-process.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { tempDir } from '../../helpers/tmp.js';
import { guest, killQemusUnder, logSize, spec, typeLine, waitForLog } from '../helpers/guest.js';

const UUID = '0c0c0c0c-1111-4222-8333-444455556666';

test('root ports: one per boot virtio device, then spares; hot-plug takes the first free one', () => {
  const s = spec(UUID, {
    disks: [
      { device: 'xvda', path: '/x.qcow2', format: 'qcow2', readonly: false },
      { device: 'xvdd', path: '', format: 'raw', readonly: true, cdrom: true },
    ],
    nics: [{ device: '0', mac: '52:54:00:00:00:01', bridge: 'b', tap: 't0' }],
  });
  const ports = rootPorts(s).map((p) => p.id);
  assert.deepEqual(ports.slice(0, 3), ['rp-vbd-xvda', 'rp-vif-0', 'hp0']);
  assert.equal(ports.length, 2 + 8);
  const map: PortMap = initialPorts(s);
  assert.deepEqual({ ...map.used }, { 'vbd-xvda': 'rp-vbd-xvda', 'vif-0': 'rp-vif-0' });
  assert.equal(freePort(map), 'hp0');
  // A removed boot disk frees its own port for the next device.
  delete map.used['vbd-xvda'];
  assert.equal(freePort(map), 'rp-vbd-xvda');
  map.ports = ['rp-vbd-xvda'];
  map.used['vbd-xvdb'] = 'rp-vbd-xvda';
  assert.throws(
    () => freePort(map),
    (e) => e instanceof XenApiError && e.code === 'OPERATION_NOT_ALLOWED',
  );
});

test('QMP commands for hot-plug', () => {
  assert.deepEqual(
    diskAddCommands({ device: 'xvdb', path: '/dev/vg/lv', format: 'raw', readonly: true }, 'hp1'),
    [
      {
        execute: 'blockdev-add',
        arguments: {
          'node-name': 'node-vbd-xvdb',
          driver: 'raw',
          'read-only': true,
          file: { driver: 'host_device', filename: '/dev/vg/lv', 'read-only': true },
        },
      },
      {
        execute: 'device_add',
        arguments: { driver: 'virtio-blk-pci', id: 'vbd-xvdb', drive: 'node-vbd-xvdb', bus: 'hp1' },
      },
    ],
  );
  const [netdev, dev] = nicAddCommands(
    { device: '1', mac: '52:54:00:00:00:02', bridge: 'b', tap: 't1', mtu: 9000 },
    'hp0',
  );
  // QEMU gets the TAP as a descriptor passed on the fd-passing monitor, never opens it by name.
  assert.deepEqual(netdev.arguments, { type: 'tap', id: 'netdev-vif-1', fd: 'tap-1' });
  assert.equal(netdev.passTap, 't1');
  assert.equal(dev.arguments.host_mtu, 9000);
  assert.equal(dev.arguments.bus, 'hp0');
  assert.deepEqual(mediaCommand('xvdd', null), {
    execute: 'eject',
    arguments: { id: 'vbd-xvdd', force: true },
  });
  assert.equal(mediaCommand('xvdd', { path: '/i.iso', format: 'raw' }).execute, 'blockdev-change-medium');
});

/**
 * Runs a shell line on the guest's serial console and waits for `re` in the log after it. Typed
 * again (up to 3 times) if `re` does not show: on a loaded machine a slow TCG guest can lose the
 * tail of a line typed through a short-lived serial connection (the lines here are idempotent).
 */
async function guestRun(vm: QemuVm, line: string, re: RegExp, timeoutMs = 30_000): Promise<string> {
  const log = vm.paths.consoleLog;
  for (let i = 0; ; i++) {
    const from = logSize(log);
    await typeLine(vm.paths.serial, line);
    try {
      return await waitForLog(log, re, timeoutMs / 2, from);
    } catch (e) {
      if (i === 2) throw e;
      await typeLine(vm.paths.serial, '\x03'); // drops a half-typed line (^C)
    }
  }
}

function setup(t: TestContext) {
  const dir = tempDir(t, 'berth-hotplug-');
  const runRoot = join(dir, 'run');
  t.after(() => killQemusUnder(runRoot));
  return { dir, paths: runtimePaths(runRoot, join(dir, 'log'), UUID) };
}

test('a hot-added disk appears in the guest with its data, and goes on hot-remove', {
  timeout: 240_000,
}, async (t) => {
  const { kernel, initrd } = guest();
  const { dir, paths } = setup(t);
  // A raw image whose first sector carries a marker the guest reads back.
  const img = join(dir, 'data.raw');
  execFileSync('qemu-img', ['create', '-f', 'raw', img, '16M'], { stdio: 'ignore' });
  const marker = 'BERTH-HOTPLUG-DATA-4242';
  const buf = readFileSync(img);
  buf.write(marker, 0, 'ascii');
  writeFileSync(img, buf);
  const iso = join(dir, 'cd.iso');
  writeFileSync(iso, Buffer.alloc(2048 * 16));

  const s = spec(UUID, {
    kernel,
    initrd,
    cmdline: 'console=ttyS0',
    disks: [{ device: 'xvdd', path: '', format: 'raw', readonly: true, cdrom: true }],
  });
  const vm = new QemuVm(s, paths);
  await vm.launch({ accel: 'tcg' });
  await waitForLog(paths.consoleLog, /BERTH-GUEST-READY/, 120_000);
  await guestRun(vm, 'ls /dev/ | grep -c "^vd" ; echo NODISKS-END', /(\d+)\s*NODISKS-END/);

  await vm.addDisk({ device: 'xvdb', path: img, format: 'raw', readonly: false });
  assert.equal(
    savedSpec(paths)?.disks.some((d) => d.device === 'xvdb'),
    true,
    'saved spec has the disk',
  );
  // The guest's PCIe hot-plug brings up /dev/vda; it reads the marker off the first sector.
  const seen = await guestRun(
    vm,
    'for i in $(seq 1 100); do [ -b /dev/vda ] && break; sleep 0.2; done; head -c 23 /dev/vda; echo ; echo READ-END',
    /BERTH-HOTPLUG-DATA-4242\s*\r?\nREAD-END/,
    60_000,
  );
  assert.match(seen, new RegExp(marker));
  await assert.rejects(
    vm.addDisk({ device: 'xvdb', path: img, format: 'raw', readonly: false }),
    (e) => e instanceof XenApiError && e.code === 'DEVICE_ALREADY_ATTACHED',
  );

  // A re-adopting agent sees the hot-added disk in the spec and its port as taken.
  vm.detach();
  const again = new QemuVm(savedSpec(paths)!, paths);
  assert.equal(await again.adopt(), true);
  assert.deepEqual(
    again.spec.disks.map((d) => d.device),
    ['xvdd', 'xvdb'],
  );

  // CD medium in and out (the AHCI drive stays; only the medium changes).
  await again.changeMedia('xvdd', { path: iso, format: 'raw' });
  assert.equal(savedSpec(paths)?.disks.find((d) => d.device === 'xvdd')?.path, iso);
  await again.changeMedia('xvdd', null);
  assert.equal(savedSpec(paths)?.disks.find((d) => d.device === 'xvdd')?.path, '');
  await assert.rejects(
    again.removeDevice('disk', 'xvdd', 1000),
    (e) => e instanceof XenApiError && e.code === 'OPERATION_NOT_ALLOWED',
  );

  await again.removeDevice('disk', 'xvdb', 60_000);
  assert.equal(
    savedSpec(paths)?.disks.some((d) => d.device === 'xvdb'),
    false,
  );
  await guestRun(vm, 'sleep 1; [ -b /dev/vda ] || echo VDA-GONE', /VDA-GONE/);
  await assert.rejects(
    again.removeDevice('disk', 'xvdb', 1000),
    (e) => e instanceof XenApiError && e.code === 'DEVICE_ALREADY_DETACHED',
  );
  // The freed port takes the disk again.
  await again.addDisk({ device: 'xvdc', path: img, format: 'raw', readonly: true });
  await guestRun(
    vm,
    'for i in $(seq 1 100); do [ -b /dev/vda ] && break; sleep 0.2; done; head -c 23 /dev/vda; echo ; echo AGAIN-END',
    /BERTH-HOTPLUG-DATA-4242\s*\r?\nAGAIN-END/,
    60_000,
  );
  await again.hardShutdown();
});
