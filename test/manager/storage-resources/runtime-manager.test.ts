// The storage runtime inside a real in-process manager: plugins from DATA/storage-plugins (one good,
// one broken), the scan daemon scanning a root recorded in berth.db, and alerts read back as
// XenAPI messages through message.get_all_records.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { jsonRpcCaller } from '../../helpers/json-rpc.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';
import { CTRL_CLASSES, controllerReport } from './fixtures.js';

const api = pathToFileURL(
  join(import.meta.dirname, '../../../src/shared/storage-resources/api/index.js'),
).href;

const GOOD = `import { attributes, defineResource, identifiers, Plugin, resources } from '${api}';
export const version = 1;
export const Box = defineResource({
  name: 'Box', extends: resources.ScannableResource,
  identifier: identifiers.GlobalId('address'), attributes: { address: attributes.Hostname() },
});
export const Slot = defineResource({
  name: 'Slot', identifier: identifiers.ScopedId('n'), attributes: { n: attributes.Integer() },
});
export class BoxPlugin extends Plugin {
  initialScan(root) { for (let n = 0; n < 3; n++) this.updateOrCreate(Slot, { n }, [root]); }
}
`;

async function rpc(url: string, password: string) {
  const call = jsonRpcCaller(url);
  const login = await call('session.login_with_password', ['root', password, '1.0', 'test']);
  const session = login.result as string;
  return async (method: string, ...params: unknown[]) => {
    const r = await call(method, [session, ...params]);
    if (r.error) throw new Error(JSON.stringify(r.error));
    return r.result;
  };
}

test('plugins load from the data dir, a broken one is listed, the daemon scans a stored root', async (t) => {
  const dataDir = tempDir(t);
  mkdirSync(join(dataDir, 'storage-plugins'));
  writeFileSync(join(dataDir, 'storage-plugins', 'boxes.mjs'), GOOD);
  writeFileSync(join(dataDir, 'storage-plugins', 'broken.mjs'), 'export const x = 1;\n');
  const m = await startManager(t, { dataDir, agent: false });
  const rt = m.manager.storageResources;
  assert.ok(rt);
  assert.ok(rt.plugins.loader.plugins.has('boxes'));
  assert.deepEqual(rt.plugins.errored.get('broken'), [
    'Add version=<int> to your plugin module. Consult Comand Center documentation for API version supported.',
  ]);
  // A root as a user would create it: the scannable record, with no parents.
  await rt.store.sessionOpen(
    'box-1',
    rt.plugins.classes,
    [{ handle: 1, class: 'boxes.Box', attributes: { address: 'box.example' }, parents: [] }],
    5,
  );
  await rt.store.sessionClose('box-1');
  await rt.daemon.discover();
  assert.deepEqual(rt.daemon.roots, ['box-1']);
  for (let i = 0; i < 50 && rt.store.queries.resourcesOfRoot('box-1').length < 4; i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(rt.store.queries.resourcesOfRoot('box-1').length, 4, 'root + 3 slots scanned');
});

test('raised and cleared alerts become XenAPI messages on the host, or the pool', async (t) => {
  const m = await startManager(t, { agent: false });
  const rt = m.manager.storageResources!;
  const call = await rpc(m.httpUrl, m.rootPassword);
  const hostUuid = String(m.manager.db.get('host', m.manager.svc.hostRef())!.uuid);
  await rt.store.sessionOpen(hostUuid, CTRL_CLASSES, controllerReport('ctrl.example', ['d1']), 5);
  const failed = { alertClass: '_None_status_40', attribute: 'status', severity: 40 as const };
  await rt.store.sessionNotifyAlert(hostUuid, 3, { ...failed, active: true });
  await rt.store.sessionNotifyAlert(hostUuid, 3, { ...failed, active: false });
  await rt.store.sessionOffline('ctrl-elsewhere', 'controller not reachable');

  const messages = Object.values((await call('message.get_all_records')) as Record<string, any>);
  const raised = messages.find((x) => x.name === 'STORAGE_RESOURCE_ALERT' && x.obj_uuid === hostUuid);
  assert.ok(raised, 'raised alert message');
  assert.equal(raised.cls, 'Host');
  assert.equal(Number(raised.priority), 2);
  assert.match(raised.body, /^Drive failed/);
  const cleared = messages.find((x) => x.name === 'STORAGE_RESOURCE_ALERT_CLEARED');
  assert.ok(cleared, 'cleared alert message');
  assert.equal(Number(cleared.priority), 4);
  assert.match(cleared.body, /^Cleared storage alert: Drive failed/);
  const poolUuid = Object.values((await call('pool.get_all_records')) as Record<string, any>)[0].uuid;
  const offline = messages.find((x) => x.name === 'STORAGE_RESOURCE_ALERT' && x.cls === 'Pool');
  assert.ok(offline, 'offline alert of an unknown root: on the pool');
  assert.equal(offline.obj_uuid, poolUuid);
  assert.equal(Number(offline.priority), 3);
  assert.match(offline.body, /reason: controller not reachable/);
});
