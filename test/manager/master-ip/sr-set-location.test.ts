// SR.set_location (Ganeti's file_storage_dir_rename) through XenAPI and xe against a real manager
// and agent: refused while plugged or for a path out of the roots (nothing moved, PBD unchanged),
// then the directory moved and the PBD's device_config:location with it; the SR plugs again at
// its new place with its VDI. Also xe pool-master-ip-status.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { startManager } from '../../helpers/manager.js';
import { vdiRecord } from '../../helpers/records.js';
import { xe } from '../cli/harness.js';
import { expectError } from '../pool/expect.js';

test('SR.set_location moves an unplugged file SR and its PBD location', { timeout: 60_000 }, async (t) => {
  const tm = await startManager(t);
  const c = new XenApiClient({ url: tm.httpUrl });
  await c.login('root', tm.rootPassword);
  const [host] = await c.call('host.get_all');
  const from = join(tm.dataDir, 'sr', 'mip-a');
  const to = join(tm.dataDir, 'sr', 'mip-b');
  const sr = await c.call('SR.create', host, { location: from }, 0, 'mip', '', 'file', 'user', false, {});
  const vdi = await c.call('VDI.create', vdiRecord(sr, 1 << 20, { name_label: 'd' }) as never);
  const [pbd] = await c.call('SR.get_PBDs', sr);
  const location = async () => (await c.call('PBD.get_device_config', pbd)).location;

  await expectError(c.call('SR.set_location', sr, to), 'SR_HAS_PBD_PLUGGED_IN');
  await c.call('PBD.unplug', pbd);
  // Out of the roots and traversal: the agent refuses, nothing recorded.
  await expectError(c.call('SR.set_location', sr, '/etc/mip'), 'INVALID_VALUE');
  await expectError(c.call('SR.set_location', sr, `${tm.dataDir}/sr/../../mip`), 'INVALID_VALUE');
  assert.equal(await location(), from);
  assert.equal(existsSync(from), true);

  const r = await xe(tm, ['sr-set-location', `uuid=${await c.call('SR.get_uuid', sr)}`, `location=${to}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await location(), to);
  assert.equal(existsSync(from), false);
  assert.equal(existsSync(to), true);
  await c.call('PBD.plug', pbd);
  await c.call('SR.scan', sr);
  assert.equal(Number(await c.call('VDI.get_virtual_size', vdi)), 1 << 20);
  const s = await xe(tm, ['pool-master-ip-status']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /wanted \( RO\)\s*:\s*\n/);
  assert.match(s.stdout, /active \( RO\)\s*:\s*false/);
});
