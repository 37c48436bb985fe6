// The storage procedures over the agent's real RPC (a trust boundary): arguments of the wrong
// type get a clean INVALID_VALUE naming the argument, and the agent keeps serving; the table the
// agent serves is exactly the contract's list; a well-formed call works end to end.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { srConfig, storageContext, storageProcedures } from '../../../src/agent/storage/rpc.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { STORAGE_PROCEDURES } from '../../../src/shared/host/storage.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';

const invalid = (name: string) => (e: unknown) => {
  assert.ok(e instanceof XenApiError, `a XenAPI error, got ${String(e)}`);
  assert.equal(e.code, 'INVALID_VALUE');
  assert.equal(e.params[0], name);
  return true;
};

test('the agent serves exactly the contract storage procedures', () => {
  const table = storageProcedures(storageContext({}, ['/nonexistent-state']));
  assert.deepEqual(Object.keys(table).sort(), [...STORAGE_PROCEDURES].sort());
});

test('default storage roots lie under the first state root; --sr-root replaces them', () => {
  assert.deepEqual(storageContext({}, ['/s', '/t']), {
    allowedRoots: ['/s/sr'],
    stateDir: '/s/storage',
    fileRoots: ['/s', '/t'],
    ext: { dirs: ['/srv/berth/extstorage', '/s/extstorage'], logDir: '/s/storage/extstorage-logs' },
  });
  assert.deepEqual(storageContext({ roots: ['/a', '/b'] }, ['/s']).allowedRoots, ['/a', '/b']);
  // ExtStorage providers: only the directories given (--extstorage-dir) replace the defaults.
  assert.deepEqual(storageContext({ extStorageDirs: ['/p'] }, ['/s']).ext?.dirs, ['/p']);
});

test('srConfig takes only strings and copies device_config onto a fresh object', () => {
  const dc = Object.create({ inherited: '/etc' }) as Record<string, string>;
  dc.location = '/x';
  assert.deepEqual(srConfig('sr', { uuid: 'u', type: 'file', deviceConfig: dc }), {
    uuid: 'u',
    type: 'file',
    deviceConfig: { location: '/x' },
  });
  assert.throws(() => srConfig('sr', null), invalid('sr'));
  assert.throws(() => srConfig('sr', ['u', 'file']), invalid('sr'));
  assert.throws(() => srConfig('sr', { uuid: 1, type: 'file', deviceConfig: {} }), invalid('sr.uuid'));
  assert.throws(
    () => srConfig('sr', { uuid: 'u', type: 'file', deviceConfig: { location: 5 } }),
    invalid('sr.deviceConfig.location'),
  );
});

test('storage procedures with bad argument types get INVALID_VALUE over the RPC', async (t) => {
  const state = tempDir(t, 'berth-rpc-state-');
  const { client } = await startTestAgent(t, { stateRoot: state });
  const sr = { uuid: randomUUID(), type: 'file', deviceConfig: { location: join(state, 'sr', 'a') } };
  await assert.rejects(
    client.call('sr_create', [{ uuid: sr.uuid, type: 'file' }]),
    invalid('sr.deviceConfig'),
  );
  await assert.rejects(client.call('sr_create', ['not an SR']), invalid('sr'));
  await assert.rejects(client.call('sr_create', []), invalid('sr'));
  await assert.rejects(
    client.call('sr_create', [{ ...sr, deviceConfig: { location: ['/etc'] } }]),
    invalid('sr.deviceConfig.location'),
  );
  await assert.rejects(client.call('storage_validate', [7, {}]), invalid('type'));
  await assert.rejects(client.call('sr_probe', ['file', 'location=/']), invalid('device_config'));
  // Nothing was created by the refused calls.
  assert.equal(existsSync(join(state, 'sr', 'a')), false);

  // The agent still serves: a well-formed SR and volume.
  const stats = await client.sr_create(sr);
  assert.ok(stats.physicalSize > 0);
  await assert.rejects(
    client.call('blockdev_create', [sr, randomUUID(), '1048576']),
    invalid('virtual_size'),
  );
  await assert.rejects(client.call('blockdev_create', [sr, randomUUID(), -1]), invalid('virtual_size'));
  await assert.rejects(client.call('blockdev_create', [sr, randomUUID(), 1.5]), invalid('virtual_size'));
  await assert.rejects(client.call('blockdev_create', [sr, { uuid: 'x' }, 1024]), invalid('uuid'));
  await assert.rejects(client.call('sr_gc', [sr, 'busy']), invalid('busy'));
  await assert.rejects(client.call('blockdev_getdimensions', [sr, [1]]), invalid('locations'));
  await assert.rejects(
    client.call('blockdev_export_file', [sr, 'x', join(state, 'suspend', 'f'), 'all']),
    invalid('bytes'),
  );
  const uuid = randomUUID();
  const vol = await client.blockdev_create(sr, uuid, 1024 * 1024);
  assert.equal(vol.location, uuid);
  assert.equal(vol.virtualSize, 1024 * 1024);
  assert.ok(existsSync(vol.path));
  assert.deepEqual(await client.blockdev_getdimensions(sr, [uuid, randomUUID()]), [1024 * 1024, null]);
  assert.deepEqual(
    (await client.storage_drivers()).map((d) => d.type),
    ['file', 'iso', 'lvm', 'nfs', 'ext'],
  );
});

test('paths outside the agent roots are refused by the agent, whatever the caller sends', async (t) => {
  const state = tempDir(t, 'berth-rpc-state-');
  const { client } = await startTestAgent(t, { stateRoot: state });
  const outside = tempDir(t, 'berth-rpc-outside-');
  const sr = { uuid: randomUUID(), type: 'file', deviceConfig: { location: join(outside, 'sr') } };
  await assert.rejects(client.sr_create(sr), invalid('device_config:location'));
  await assert.rejects(client.storage_validate('file', sr.deviceConfig), invalid('device_config:location'));
  assert.equal(existsSync(join(outside, 'sr')), false);
});
