// The node-storage procedures' pure parts: Ganeti's LVM output parsers (on the fixtures described
// in fixtures/README.md), the tag sanitiser, wipe bounds and its qemu-io argument array, storage
// unit fields and rows, the watcher pause's argument, and the hypervisor parameter mapping.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkWipeBounds, wipeArgs } from '../../../src/agent/node-storage/bdev.js';
import { specOf } from '../../../src/agent/node-storage/hv-params.js';
import {
  lvChangeTagsArgs,
  lvmName,
  parseLvList,
  parseNodeVolumes,
  parsePvs,
  parseVgList,
  parseVgs,
  sanitizeTag,
} from '../../../src/agent/node-storage/lvm-report.js';
import { checkFields, selectRows, unitType } from '../../../src/agent/node-storage/storage-units.js';
import { checkUntil } from '../../../src/agent/node-storage/watcher.js';
import { nodeStorageProcedures } from '../../../src/agent/node-storage/rpc.js';
import {
  NODE_STORAGE_CLASS,
  NODE_STORAGE_PROCEDURES,
  nodeStorageClient,
} from '../../../src/shared/host/node-storage.js';
import { XenApiError } from '../../../src/shared/errors.js';

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
const invalid = (field: string) => (e: unknown) =>
  e instanceof XenApiError && e.code === 'INVALID_VALUE' && e.params[0] === field;

test('lv_list: Ganeti’s shape, virtual LVs skipped, sizes kept as strings, bad lines refused', () => {
  assert.deepEqual(parseLvList(fixture('lvs-lv-list.txt')), {
    'xenvg/test1': ['20.06', false, true],
    'xenvg/inactive': ['1024.00', true, false],
    'data/big': ['8192.00', false, false],
  });
  assert.deepEqual(parseLvList(''), {});
  assert.throws(() => parseLvList('  xenvg|lv|notasize|-wi-a-----\n'), /Invalid line in output from lvs/);
  assert.throws(() => parseLvList('  xenvg|lv|1.00|-wi\n'), /Invalid line/);
});

test('node_volumes: one row per physical volume, extent suffix removed', () => {
  assert.deepEqual(parseNodeVolumes(fixture('lvs-node-volumes.txt')), [
    { name: 'test1', size: '20.06', dev: '/dev/sdb', vg: 'xenvg' },
    { name: 'big', size: '8192.00', dev: '/dev/sdc', vg: 'data' },
    { name: 'big', size: '8192.00', dev: '/dev/sdd', vg: 'data' },
  ]);
  assert.throws(() => parseNodeVolumes('  a|1.00|/dev/sdb(0)\n'), /Invalid line/);
});

test('pvs / vgs lines captured on this machine parse; vg_list rounds as Ganeti', () => {
  const [pvLine, vgLine] = fixture('pvs-vgs-real.txt')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(parsePvs(pvLine), [
    { name: '/dev/loop0', vg: 'bdevmisc-probe', size: 60, used: 0, free: 60, allocatable: true },
  ]);
  assert.deepEqual(parseVgs(vgLine), [{ name: 'bdevmisc-probe', size: 60, free: 60 }]);
  assert.deepEqual(parseVgList('  a|60.00\n  b|1020.50\n'), { a: 60, b: 1021 });
  assert.throws(() => parseVgs('  a|x|1\n'), /Invalid size/);
  assert.equal(parsePvs('  /dev/loop1||60.00|0|60.00|u--\n')[0].allocatable, false);
});

test('LVM names: options, traversal and shell text refused before any command', () => {
  assert.equal(lvmName('vg', 'VG_XenStorage-1'), 'VG_XenStorage-1');
  for (const v of ['-ffoo', '../x', 'a/b', 'a;rm -rf /', '$(id)', '', '.', '..', 'a b', 7])
    assert.throws(() => lvmName('vg', v), invalid('vg'), String(v));
});

test('LVM tags sanitised as Ganeti’s BlockdevSetInfo', () => {
  assert.equal(sanitizeTag('originstname+vm1.example.com'), 'originstname+vm1.example.com');
  assert.equal(sanitizeTag('-x y/z'), '_x_y_z');
  assert.equal(sanitizeTag('é;$(id)'), '____id_');
  assert.equal(sanitizeTag('a'.repeat(200)).length, 128);
});

test('wipe: Ganeti’s bounds in MiB and one qemu-io argument array', () => {
  checkWipeBounds(0, 8, 8);
  checkWipeBounds(8, 0, 8);
  assert.throws(() => checkWipeBounds(-1, 1, 8), invalid('offset'));
  assert.throws(() => checkWipeBounds(0, -1, 8), invalid('size'));
  assert.throws(() => checkWipeBounds(9, 0, 8), invalid('offset'));
  assert.throws(() => checkWipeBounds(4, 5, 8), invalid('size'));
  assert.throws(() => checkWipeBounds(0.5, 1, 8), invalid('offset'));
  assert.deepEqual(wipeArgs({ format: 'qcow2', path: '/sr/-x.qcow2' }, 1, 2), [
    '-f',
    'qcow2',
    '-c',
    'write -z 1048576 2097152',
    '--',
    '/sr/-x.qcow2',
  ]);
});

test('storage units: types, fields per type, rows filtered and in name order', () => {
  assert.equal(unitType('lvm-pv'), 'lvm-pv');
  assert.throws(() => unitType('drbd'), invalid('type'));
  assert.deepEqual(checkFields('lvm-pv', ['name', 'vg']), ['name', 'vg']);
  assert.throws(() => checkFields('file', ['vg']), invalid('fields'));
  assert.throws(() => checkFields('file', []), invalid('fields'));
  const units = [
    { name: 'b', size: 2, allocatable: true },
    { name: 'a', size: 1, allocatable: false },
  ];
  assert.deepEqual(selectRows(units, null, ['name', 'size']), [
    ['a', 1],
    ['b', 2],
  ]);
  assert.deepEqual(selectRows(units, 'b', ['allocatable', 'free']), [[true, '']]);
});

test('watcher pause: null or epoch seconds', () => {
  assert.equal(checkUntil(null), null);
  assert.equal(checkUntil(12.7), 12);
  for (const v of [-1, 'soon', Number.NaN, {}]) assert.throws(() => checkUntil(v), invalid('until'));
});

test('hypervisor params: the manager’s mapping, the agent’s spec checks, platform keys ignored', () => {
  const { spec, ignored } = specOf({
    VCPUs_at_startup: '2',
    VCPUs_max: '4',
    memory_static_max: String(512 * 2 ** 20),
    memory_dynamic_max: String(256 * 2 ** 20),
    PV_args: 'console=ttyS0',
    'platform:viridian': 'true',
  });
  assert.deepEqual(
    [spec.vcpus, spec.vcpusMax, spec.memoryBytes, spec.memoryMaxBytes, spec.balloon],
    [2, 4, 256 * 2 ** 20, 512 * 2 ** 20, true],
  );
  assert.deepEqual(ignored, ['platform:viridian']);
  assert.throws(() => specOf({ cpu_mask: '1' }), invalid('cpu_mask'));
  assert.throws(() => specOf({ VCPUs_at_startup: '0' }), invalid('VCPUs_at_startup'));
  assert.throws(() => specOf({ VCPUs_at_startup: '1e3' }), invalid('VCPUs_at_startup'));
  assert.throws(() => specOf({ memory_static_max: '1024' }), invalid('memory_dynamic_max'));
  assert.throws(
    () => specOf({ memory_dynamic_max: '2048', memory_static_max: '1024' }),
    invalid('memory_dynamic_max'),
  );
  assert.throws(() => specOf({ PV_kernel: 'relative/vmlinuz' }), invalid('PV_kernel'));
  assert.throws(() => specOf({ PV_args: 'a\nb' }), invalid('PV_args'));
  assert.throws(() => specOf({ 'other_config:balloon': 'yes' }), invalid('other_config:balloon'));
  assert.throws(() => specOf({ VCPUs_at_startup: '4', VCPUs_max: '2' }), invalid('VCPUs_max'));
});

test('the agent serves exactly the contract’s procedures, each documented and classed', () => {
  const table = nodeStorageProcedures({
    storage: { allowedRoots: ['/nonexistent'], stateDir: '/nonexistent' },
    exports: {} as never,
    stateRoot: '/nonexistent',
  });
  assert.deepEqual(Object.keys(table).sort(), [...NODE_STORAGE_PROCEDURES].sort());
  const doc = readFileSync(new URL('../../../docs/agent.md', import.meta.url), 'utf8');
  for (const p of NODE_STORAGE_PROCEDURES) {
    assert.match(doc, new RegExp(`\`${p}\``), `${p} in docs/agent.md`);
    assert.ok(NODE_STORAGE_CLASS[p], `${p} has a timeout class`);
  }
});

test('the client passes each procedure’s time limit, test_delay its duration + 5 s', async () => {
  const seen: [string, number | undefined][] = [];
  const c = nodeStorageClient(async (name, _args, ms) => {
    seen.push([name, ms]);
    return null;
  });
  await c.vg_list();
  await c.blockdev_wipe({ uuid: 'u', type: 'file', deviceConfig: {} }, 'l', 0, 1);
  await c.test_delay(10);
  assert.deepEqual(seen, [
    ['vg_list', 60_000],
    ['blockdev_wipe', 3_600_000],
    ['test_delay', 15_000],
  ]);
});

test('LV tags: old ones deleted, the sanitised label added, each its own argument', () => {
  assert.deepEqual(
    lvChangeTagsArgs('VG_XenStorage-1', 'LV-2', ['old', 'x y'], [sanitizeTag('-vm; rm -rf /')]),
    ['--deltag', 'old', '--deltag', 'x y', '--addtag', '_vm__rm_-rf__', '--', 'VG_XenStorage-1/LV-2'],
  );
});
