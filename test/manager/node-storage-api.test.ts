// Berth's extension messages of issue 18 slice bdev-misc (extensions/node-storage.json) through
// XenAPI (JSON-RPC as root) on a manager with its real agent: storage units, block-device sizes,
// hypervisor parameters, the watcher pause, VDI.wipe on a VDI of the default SR.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unitMap } from '../../src/manager/api/node-storage.js';
import { startManager } from '../helpers/manager.js';
import { xe } from './cli/harness.js';
import { rootJsonRpc } from './setters/harness.js';

const MiB = 1024 * 1024;

test('unitMap: rows by unit name, fields as text, name only when asked', () => {
  assert.deepEqual(unitMap(['size', 'allocatable'], [['/sr', 10.5, true]]), {
    '/sr': { size: '10.5', allocatable: 'true' },
  });
  assert.deepEqual(unitMap(['name'], [['vg']]), { vg: { name: 'vg' } });
});

test('host.get_storage_units / get_block_device_sizes / validate_hypervisor_params / watcher pause / VDI.wipe', async (t) => {
  const m = await startManager(t);
  const { call, failure } = await rootJsonRpc(m, 'bdevmisc-test');
  const [host] = (await call('host.get_all')) as string[];

  const units = (await call('host.get_storage_units', host, 'file', [])) as Record<
    string,
    Record<string, string>
  >;
  const [root] = Object.keys(units);
  assert.equal(units[root].type, 'file');
  assert.deepEqual(Object.keys(units[root]).sort(), ['allocatable', 'free', 'name', 'size', 'type', 'used']);
  assert.ok(Number(units[root].size) > 0);
  const free = (await call('host.get_storage_units', host, 'file', ['free'])) as Record<
    string,
    Record<string, string>
  >;
  assert.deepEqual(Object.keys(free), [root]);
  assert.deepEqual(Object.keys(free[root]), ['free']); // the filesystem is shared: its figure moves
  assert.equal((await failure('host.get_storage_units', host, 'drbd', []))[0], 'INVALID_VALUE');
  assert.equal((await failure('host.get_storage_units', host, 'file', ['vg']))[0], 'INVALID_VALUE');

  assert.deepEqual(
    await call('host.get_block_device_sizes', host, ['/dev/null', '/etc/passwd', '/dev/../etc']),
    {},
  );

  assert.deepEqual(
    await call('host.validate_hypervisor_params', host, { VCPUs_at_startup: '2', 'platform:acpi': '1' }),
    ['platform:acpi'],
  );
  assert.deepEqual(await failure('host.validate_hypervisor_params', host, { VCPUs_at_startup: 'many' }), [
    'INVALID_VALUE',
    'VCPUs_at_startup',
    'many',
    'a non-negative integer',
  ]);

  assert.equal(await call('host.get_watcher_pause', host), 0);
  const until = Math.floor(Date.now() / 1000) + 3600;
  await call('host.set_watcher_pause', host, until);
  assert.equal(await call('host.get_watcher_pause', host), until);
  await call('host.set_watcher_pause', host, 0);
  assert.equal(await call('host.get_watcher_pause', host), 0);
  assert.equal((await failure('host.set_watcher_pause', host, -5))[0], 'INVALID_VALUE');

  const pool = ((await call('pool.get_all')) as string[])[0];
  const sr = await call('pool.get_default_SR', pool);
  const vdi = await call('VDI.create', {
    SR: sr,
    virtual_size: String(8 * MiB),
    type: 'user',
    name_label: 'bdevmisc-wipe',
    name_description: '',
    sharable: false,
    read_only: false,
    other_config: {},
    xenstore_data: {},
    sm_config: {},
    tags: [],
  });
  await call('VDI.wipe', vdi, 2, 6);

  // The same through xe.
  const hostUuid = await call('host.get_uuid', host);
  const vdiUuid = await call('VDI.get_uuid', vdi);
  const ls = await xe(m, [
    'host-storage-list',
    `host-uuid=${hostUuid}`,
    'type=file',
    'fields=free,allocatable',
  ]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(
    ls.stdout,
    new RegExp(`name \\( RO\\)\\s*: ${root}\n\\s*free \\( RO\\): [0-9.]+\n\\s*allocatable \\( RO\\): true`),
  );
  const bad = await xe(m, ['host-storage-list', `host-uuid=${hostUuid}`, 'type=drbd']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /INVALID_VALUE|invalid/i);
  assert.equal(
    (await xe(m, ['host-bdev-sizes', `host-uuid=${hostUuid}`, 'devices=/dev/null,/etc/passwd'])).stdout,
    '',
  );
  const later = Math.floor(Date.now() / 1000) + 600;
  assert.equal(
    (await xe(m, ['host-watcher-pause', `host-uuid=${hostUuid}`, `until=${later}`])).stdout,
    `${later}\n`,
  );
  assert.equal((await xe(m, ['host-watcher-pause', `host-uuid=${hostUuid}`, 'until=0'])).stdout, '0\n');
  assert.equal((await xe(m, ['host-watcher-pause', `host-uuid=${hostUuid}`, 'until=-1'])).code, 1);
  const wipe = await xe(m, ['vdi-wipe', `uuid=${vdiUuid}`, 'offset=1', 'size=2']);
  assert.equal(wipe.code, 0, wipe.stderr);
  assert.notEqual((await xe(m, ['vdi-wipe', `uuid=${vdiUuid}`, 'size=9'])).code, 0);
  assert.deepEqual((await failure('VDI.wipe', vdi, 4, 8)).slice(0, 2), ['INVALID_VALUE', 'size']);
  assert.deepEqual((await failure('VDI.wipe', vdi, -1, 1)).slice(0, 2), ['INVALID_VALUE', 'offset']);
});
