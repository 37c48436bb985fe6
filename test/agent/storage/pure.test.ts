// Pure parts of the storage agent: file classification, GC plans, path confinement, parsers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyEntries, planGc } from '../../../src/agent/storage/file-sr.js';
import { volumePath } from '../../../src/shared/host/volume-path.js';
import { bytes, parseLvmReport } from '../../../src/agent/storage/lvm.js';
import { confine, isUnderRoots } from '../../../src/agent/storage/paths.js';
import { parseImageInfo } from '../../../src/agent/storage/qemu-img.js';

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const U3 = '33333333-3333-4333-8333-333333333333';

test('SR directory entries: leaves, hidden bases, temporaries; anything else ignored', () => {
  const c = classifyEntries([
    `${U1}.qcow2`,
    `base-${U2}.qcow2`,
    '.tmp-x.qcow2',
    'notes.txt',
    'x.qcow2',
    '.berth-sr',
  ]);
  assert.deepEqual(c, { leaves: [`${U1}.qcow2`], bases: [`base-${U2}.qcow2`], temps: ['.tmp-x.qcow2'] });
});

test('GC plan: unused bases go, single-child bases merge into a non-busy child, one level per round', () => {
  const b1 = `base-${U1}.qcow2`;
  const b2 = `base-${U2}.qcow2`;
  const backing = new Map<string, string | undefined>([
    [b1, undefined],
    [b2, b1],
    [`${U3}.qcow2`, b2],
    [`base-${U3}.qcow2`, undefined],
  ]);
  const plan = planGc(backing, new Set());
  assert.deepEqual(plan.remove, [`base-${U3}.qcow2`]);
  // b1's only child is b2, itself merged this round into U3: only b2→U3 happens now.
  assert.deepEqual(plan.coalesce, [{ base: b2, child: `${U3}.qcow2`, newBacking: b1 }]);
  assert.deepEqual(planGc(backing, new Set([`${U3}.qcow2`])).coalesce, [
    { base: b1, child: b2, newBacking: undefined },
  ]);
  const two = new Map<string, string | undefined>([
    [b1, undefined],
    [`${U2}.qcow2`, b1],
    [`${U3}.qcow2`, b1],
  ]);
  assert.deepEqual(planGc(two, new Set()), { remove: [], coalesce: [] });
});

test('paths: only absolute, normalised paths under a root are accepted', () => {
  assert.equal(isUnderRoots('/srv/sr/a', ['/srv/sr']), true);
  assert.equal(isUnderRoots('/srv/srx', ['/srv/sr']), false);
  assert.equal(isUnderRoots('/srv/sr', ['/srv/sr/']), true);
  assert.equal(
    confine('k', '/tmp/berth-roots-test/x/', ['/tmp/berth-roots-test']),
    '/tmp/berth-roots-test/x',
  );
  for (const bad of [
    'relative/x',
    '/tmp/berth-roots-test/../etc',
    '/etc/passwd',
    '/tmp/berth-roots-test//x',
    '',
  ])
    assert.throws(
      () => confine('device_config:location', bad, ['/tmp/berth-roots-test']),
      (e: any) => e.code === 'INVALID_VALUE' && e.params[0] === 'device_config:location',
      bad,
    );
});

test('qemu-img info and LVM report parsing', () => {
  const i = parseImageInfo(
    JSON.stringify({
      'virtual-size': 1073741824,
      'actual-size': 200704,
      format: 'qcow2',
      'backing-filename': 'base-x.qcow2',
      'backing-filename-format': 'qcow2',
    }),
  );
  assert.deepEqual(i, {
    format: 'qcow2',
    virtualSize: 1073741824,
    actualSize: 200704,
    backingFile: 'base-x.qcow2',
    backingFormat: 'qcow2',
  });
  assert.throws(() => parseImageInfo('{}'));
  const rows = parseLvmReport(
    '{"report":[{"vg":[{"vg_name":"VG_XenStorage-x","vg_size":"104857600","vg_free":"100663296"}]}]}',
    'vg',
  );
  assert.equal(rows[0].vg_name, 'VG_XenStorage-x');
  assert.equal(bytes(rows[0].vg_free), 100663296);
  assert.equal(bytes('4194304B'), 4194304);
});

test('volume paths per SR type; locations cannot escape the SR', () => {
  assert.deepEqual(volumePath('file', 's', { location: '/srv/sr' }, U1), {
    path: `/srv/sr/${U1}.qcow2`,
    format: 'qcow2',
  });
  assert.deepEqual(volumePath('iso', 's', { location: '/srv/iso' }, 'd.iso'), {
    path: '/srv/iso/d.iso',
    format: 'raw',
  });
  assert.deepEqual(volumePath('lvm', 'S', { device: '/dev/loop0' }, U1), {
    path: `/dev/VG_XenStorage-S/LV-${U1}`,
    format: 'raw',
  });
  assert.equal(volumePath('file', 's', { location: '/srv/sr' }, '../x'), undefined);
  assert.deepEqual(volumePath('nfs', 'S', { server: 'f', serverpath: '/x' }, U1), {
    path: `/run/sr-mount/S/${U1}.qcow2`,
    format: 'qcow2',
  });
  assert.equal(volumePath('nfs', 'S', {}, U1, '/tmp/m')?.path, `/tmp/m/S/${U1}.qcow2`);
  assert.equal(volumePath('cifs', 's', {}, U1), undefined);
  // ext: the agent's link to the device the provider's attach printed.
  assert.deepEqual(volumePath('ext', 'S', { provider: 'loopfile' }, U1), {
    path: `/dev/berth-ext/S/${U1}`,
    format: 'raw',
  });
  assert.equal(volumePath('ext', 'S', { provider: 'loopfile' }, '../x'), undefined);
});
