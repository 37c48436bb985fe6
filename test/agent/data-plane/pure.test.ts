// Pure parts of the data plane: the qemu-storage-daemon command line, the pid guard, the block
// node lookup of a running VM's disk, the RPC's option checks, and the served procedure table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NbdExports } from '../../../src/agent/data-plane/exports.js';
import { diskNode, InstanceExports } from '../../../src/agent/data-plane/instance-exports.js';
import { isQsdFor, QSD_MALLOC_TUNABLES, qsdArgs, qsdEnv } from '../../../src/agent/data-plane/qsd-args.js';
import {
  dataPlaneProcedures,
  instanceNbdOptions,
  nbdOpenOptions,
} from '../../../src/agent/data-plane/rpc.js';
import type { InstanceManager } from '../../../src/agent/instances.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { DATA_PLANE_PROCEDURES } from '../../../src/shared/host/data-plane.js';

const base = {
  path: '/srv/sr/a,b.qcow2',
  format: 'qcow2' as const,
  socket: '/run/berth/nbd/0123456789abcdef.sock',
  pidFile: '/run/berth/nbd/0123456789abcdef.pid',
  exportName: 'vol',
};

test('qsdArgs: JSON block nodes (a comma in a path stays a path), read-only shares, bitmap', () => {
  const ro = qsdArgs({ ...base, readOnly: true, bitmap: 'cbt-1' });
  const json = ro
    .filter((_, i) => ro[i - 1] === '--blockdev' || ro[i - 1] === '--export')
    .map((a) => JSON.parse(a));
  assert.deepEqual(json[0], {
    driver: 'file',
    'node-name': 'file0',
    filename: '/srv/sr/a,b.qcow2',
    'read-only': true,
    'force-share': true,
  });
  assert.equal(json[1].driver, 'qcow2');
  assert.deepEqual(json[2].bitmaps, ['cbt-1']);
  assert.equal(json[2].writable, false);
  assert.ok(ro.includes('--daemonize'));
  const rw = qsdArgs({ ...base, readOnly: false, path: '/dev/VG_XenStorage-x/LV-y', format: 'raw' });
  const file = JSON.parse(rw[1]);
  assert.equal(file.driver, 'host_device');
  assert.equal(file['force-share'], undefined);
  assert.equal(JSON.parse(rw[rw.indexOf('--export') + 1]).writable, true);
  assert.throws(() => qsdArgs({ ...base, readOnly: true, socket: '/run/a,b.sock' }));
});

test('qsdEnv: malloc tunables for the daemon, tunables already set kept after them', () => {
  const env = qsdEnv({ PATH: '/usr/bin' });
  assert.equal(env.PATH, '/usr/bin');
  assert.equal(env.GLIBC_TUNABLES, QSD_MALLOC_TUNABLES);
  assert.match(QSD_MALLOC_TUNABLES, /glibc\.malloc\.mmap_threshold=33554432/);
  assert.match(QSD_MALLOC_TUNABLES, /glibc\.malloc\.trim_threshold=\d+/);
  const own = qsdEnv({ GLIBC_TUNABLES: 'glibc.pthread.rseq=0' });
  assert.equal(own.GLIBC_TUNABLES, `${QSD_MALLOC_TUNABLES}:glibc.pthread.rseq=0`);
});

test('isQsdFor: only a qemu-storage-daemon serving that very socket', () => {
  const argv = ['qemu-storage-daemon', ...qsdArgs({ ...base, readOnly: true })];
  assert.equal(isQsdFor(argv, base.socket), true);
  assert.equal(isQsdFor(argv, '/run/berth/nbd/0123456789abcdef.so'), false);
  assert.equal(isQsdFor(['sleep', ...argv.slice(1)], base.socket), false);
});

test('diskNode: boot-time drive by its BlockBackend, hot-plugged disk by its node name', () => {
  const blocks = [
    { device: 'drive-vbd-xvda', inserted: { 'node-name': '#block123', image: { 'virtual-size': 1024 } } },
    { device: '', inserted: { 'node-name': 'node-vbd-xvdb', image: { 'virtual-size': 2048 } } },
    { device: 'drive-vbd-xvdd' },
  ];
  assert.deepEqual(diskNode(blocks, 'xvda'), { node: '#block123', size: 1024 });
  assert.deepEqual(diskNode(blocks, 'xvdb'), { node: 'node-vbd-xvdb', size: 2048 });
  assert.equal(diskNode(blocks, 'xvdd'), undefined);
  assert.equal(diskNode(blocks, 'xvdc'), undefined);
});

test('option checks: required readOnly, optional bitmap string, nothing else', () => {
  const invalid = (name: string) => (e: unknown) => e instanceof XenApiError && e.params[0] === name;
  assert.deepEqual(nbdOpenOptions('opts', { readOnly: true }), { readOnly: true });
  assert.deepEqual(nbdOpenOptions('opts', { readOnly: false, bitmap: 'b' }), {
    readOnly: false,
    bitmap: 'b',
  });
  assert.throws(() => nbdOpenOptions('opts', { bitmap: 'b' }), invalid('opts.readOnly'));
  assert.throws(() => nbdOpenOptions('opts', [true]), invalid('opts'));
  assert.throws(() => nbdOpenOptions('opts', { readOnly: true, force: true }), invalid('opts.force'));
  assert.deepEqual(instanceNbdOptions('opts', undefined), {});
  assert.deepEqual(instanceNbdOptions('opts', { bitmap: 'b' }), { bitmap: 'b' });
  assert.throws(() => instanceNbdOptions('opts', { bitmap: 1 }), invalid('opts.bitmap'));
});

test('the agent serves exactly the contract data-plane procedures', () => {
  const ctx = { allowedRoots: ['/nonexistent'], stateDir: '/nonexistent' };
  const exports = new NbdExports('/nonexistent-run', ctx);
  const table = dataPlaneProcedures(exports, new InstanceExports({} as InstanceManager, exports.dir));
  assert.deepEqual(Object.keys(table).sort(), [...DATA_PLANE_PROCEDURES].sort());
});
