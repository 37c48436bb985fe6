// Shared SRs in the manager: SR.create with shared=true makes one PBD per host of the pool and
// plugs the creator's; only shareable types (file directory, nfs) may be shared; a PBD plugged
// while another host has the SR attached does not repair that host's live work.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostsSeeingSr } from '../../../src/manager/storage/sr-ops.js';
import { tempDir } from '../../helpers/tmp.js';
import { code, startStorageManager } from './harness.js';

test('shared file SR: a PBD per host, shareable types only, no repairs under another host', async (t) => {
  const shared = tempDir(t, 'berth-shared-sr-');
  const dataDir = tempDir(t, 'berth-shared-data-');
  const m = await startStorageManager(t, {
    dataDir,
    agentStorage: { roots: [join(dataDir, 'sr'), shared] },
  });
  const { svc } = m.manager;
  const local = svc.hostRef();
  const other = svc.db.create('host', {
    name_label: 'host-b',
    hostname: 'host-b',
    address: '192.0.2.2',
    enabled: true,
  });

  const location = join(shared, 'sr');
  const sr = await m.call('SR.create', local, { location }, 0, 'shared', '', 'file', '', true, {});
  assert.equal(await m.call('SR.get_shared', sr), true);
  const pbds = await m.call<string[]>('SR.get_PBDs', sr);
  const byHost = new Map<string, any>();
  for (const p of pbds) {
    const r = await m.call('PBD.get_record', p);
    byHost.set(r.host, { ref: p, ...r });
  }
  assert.deepEqual([...byHost.keys()].sort(), [local, other].sort(), 'one PBD per host');
  assert.equal(byHost.get(local).currently_attached, true);
  assert.deepEqual(byHost.get(other).device_config, { location });
  // Host B's agent is not reachable from this manager yet: its PBD stays unplugged.
  assert.equal(byHost.get(other).currently_attached, false);
  assert.deepEqual(hostsSeeingSr(svc, sr), [local]);

  // Local-only types cannot be shared.
  await assert.rejects(
    m.call('SR.create', local, { device: '/dev/null' }, 0, 'x', '', 'lvm', '', true, {}),
    code('INVALID_VALUE', ['shared', 'true', 'SR type lvm is local to one host']),
  );
  const single = await m.call(
    'SR.create',
    local,
    { location: join(shared, 'single') },
    0,
    's',
    '',
    'file',
    '',
    false,
    {},
  );
  await m.call('SR.set_shared', single, true);
  assert.equal(await m.call('SR.get_shared', single), true);

  // As if host B had the SR attached: plugging here leaves B's in-flight temporary alone.
  const vdi = await m.call('VDI.create', {
    SR: sr,
    virtual_size: 1024 * 1024,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'd',
  });
  assert.ok(await m.call('VDI.get_uuid', vdi));
  await m.call('PBD.unplug', byHost.get(local).ref);
  svc.db.update('PBD', byHost.get(other).ref, { currently_attached: true });
  assert.deepEqual(hostsSeeingSr(svc, sr), [other]);
  const inFlight = join(location, `.tmp-${randomUUID()}.qcow2`);
  writeFileSync(inFlight, '');
  await m.call('PBD.plug', byHost.get(local).ref);
  assert.ok(existsSync(inFlight), "another host's live temporary survives");
  assert.deepEqual(hostsSeeingSr(svc, sr).sort(), [local, other].sort(), 'visible from both hosts');
  // Alone again: the next plug repairs.
  svc.db.update('PBD', byHost.get(other).ref, { currently_attached: false });
  await m.call('PBD.unplug', byHost.get(local).ref);
  await m.call('PBD.plug', byHost.get(local).ref);
  assert.equal(existsSync(inFlight), false);
});
