// The storage runtime follows the pool role, on real pool members (the in-process pool harness:
// real agents, managers on 127.0.0.x): a master that joins a pool stops it, the host designated
// master starts it (plugins loaded from its own data dir, its own berth.db's resource tables: the
// replica copies none), the old master stops it, and a slave's emergency transition starts it on
// what its file kept from its own earlier mastership. Alerts become messages on the new master.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import type { StorageRuntime } from '../../../src/manager/storage-resources/runtime/storage-runtime.js';
import { type Member, startPoolHosts, waitFor } from '../pool/harness.js';

const api = pathToFileURL(
  join(import.meta.dirname, '../../../src/shared/storage-resources/api/index.js'),
).href;

const BOXES = `import { attributes, defineResource, identifiers, Plugin, resources } from '${api}';
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

function installPlugin(m: Member) {
  mkdirSync(join(m.dataDir, 'storage-plugins'), { recursive: true });
  writeFileSync(join(m.dataDir, 'storage-plugins', 'boxes.mjs'), BOXES);
}

/** A root as a user adds it (the scannable record, no parents), then the daemon's next look. */
async function addRoot(rt: StorageRuntime, root: string) {
  await rt.store.sessionOpen(
    root,
    rt.plugins.classes,
    [{ handle: 1, class: 'boxes.Box', attributes: { address: `${root}.example` }, parents: [] }],
    5,
  );
  await rt.store.sessionClose(root);
  await rt.daemon.discover();
}

const scanned = (rt: StorageRuntime, root: string) =>
  waitFor(`${root} scanned`, () => rt.store.queries.resourcesOfRoot(root).length === 4);

test('the storage runtime starts on a new master and stops on a demoted one', {
  timeout: 120_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, a] = members;
  for (const x of members) installPlugin(x);
  // Both start standalone: each is its own master with a runtime.
  assert.ok(m.manager!.storageResources && a.manager!.storageResources);
  // a's runtime loaded no plugin (installed after it started): its next start will.
  assert.equal(a.manager!.storageResources.plugins.loader.plugins.size, 0);

  // Plugins load when the runtime starts: m restarts to load its own, then holds a root.
  await m.close();
  await m.open();
  const mRt = m.manager!.storageResources!;
  assert.ok(mRt.plugins.loader.plugins.has('boxes'));
  await addRoot(mRt, 'box-m');
  await scanned(mRt, 'box-m');

  // a joins m: a is a slave now and runs no runtime.
  const aRtBefore = a.manager!.storageResources!;
  await (await a.client()).call('pool.join', m.address, 'root', m.rootPassword);
  await waitFor('a stopped its runtime', () => a.manager!.storageResources === undefined);
  assert.throws(() => aRtBefore.store.queries.roots(), /not open/, "the slave's store is closed");

  // The master moves to a: a starts its runtime, m stops its own.
  const ca = await m.client();
  await ca.call('pool.designate_new_master', a.manager!.svc.hostRef());
  const aRt = await waitFor('a runs the runtime', () => a.manager!.storageResources);
  await waitFor('m stopped its runtime', () => m.manager!.storageResources === undefined);
  assert.deepEqual(mRt.daemon.roots, [], "the old master's scan loops stopped");
  assert.throws(() => mRt.store.queries.roots(), /not open/, "the old master's store is closed");
  assert.ok(aRt.plugins.loader.plugins.has('boxes'), 'plugins loaded from the new master’s data dir');
  assert.deepEqual(aRt.store.queries.roots(), [], "the replica copied none of m's resource tables");

  // The new master scans its roots, and its alerts become messages in the pool's database.
  await addRoot(aRt, 'box-a');
  await scanned(aRt, 'box-a');
  await aRt.store.sessionOffline('box-gone', 'unplugged');
  const ca2 = new XenApiClient({ url: a.url });
  await ca2.login('root', a.rootPassword);
  await waitFor('the alert message on the new master', async () =>
    Object.values(await ca2.call('message.get_all_records')).some(
      (x) => x.name === 'STORAGE_RESOURCE_ALERT' && /reason: unplugged/.test(x.body),
    ),
  );

  // a dies; m (its slave) takes over in an emergency and starts its runtime on its own file,
  // which still holds the root m had as master: scanned again.
  await waitFor('m replica has the 2 hosts', () => m.manager!.db.count('host') === 2);
  await a.close();
  const em = new XenApiClient({ url: m.url });
  const local = (await em.raw('session.slave_local_login_with_password', ['root', m.rootPassword])) as string;
  await em.raw('pool.emergency_transition_to_master', [local]);
  const mRt2 = await waitFor('m runs the runtime again', () => m.manager!.storageResources);
  assert.notEqual(mRt2, mRt);
  assert.deepEqual(mRt2.store.queries.roots(), ['box-m']);
  await waitFor('the daemon scans box-m', async () => {
    await mRt2.daemon.discover();
    return mRt2.daemon.roots.includes('box-m');
  });
  await scanned(mRt2, 'box-m');
});
