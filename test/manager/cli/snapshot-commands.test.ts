// xe snapshot-revert and vm-snapshot-with-quiesce against a real manager: a halted VM is
// snapshotted, changed, and reverted to the snapshot (its configuration comes back, it stays
// halted); reverting a plain VM, or naming nothing, fails as xapi's xe does; a quiesced snapshot
// fails with the server's error (VSS support is removed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCliManager, xe } from './harness.js';

test('xe snapshot-revert and vm-snapshot-with-quiesce', async (t) => {
  const tm = await startCliManager(t);
  const inst = await xe(tm, ['vm-install', 'new-name-label=snapme', 'template=Berth test guest']);
  assert.equal(inst.code, 0, inst.stderr);
  const uuid = inst.stdout.trim();
  const snap = await xe(tm, ['vm-snapshot', `uuid=${uuid}`, 'new-name-label=before']);
  assert.equal(snap.code, 0, snap.stderr);
  const snapUuid = snap.stdout.trim();
  const set = await xe(tm, ['vm-param-set', `uuid=${uuid}`, 'name-description=changed', 'VCPUs-max=2']);
  assert.equal(set.code, 0, set.stderr);

  const reverted = await xe(tm, ['snapshot-revert', `snapshot-uuid=${snapUuid}`]);
  assert.equal(reverted.code, 0, reverted.stderr);
  const get = async (p: string) => (await xe(tm, ['vm-param-get', `uuid=${uuid}`, `param-name=${p}`])).stdout;
  assert.equal(await get('name-description'), 'Installed via xe CLI\n');
  assert.equal(await get('VCPUs-max'), '1\n');
  assert.equal(await get('name-label'), 'snapme\n', 'the VM keeps its own name');
  assert.equal(await get('power-state'), 'halted\n');
  assert.equal(await get('parent'), `${snapUuid}\n`);
  // uuid= works as well (xapi's get_snapshot_uuid).
  assert.equal((await xe(tm, ['snapshot-revert', `uuid=${snapUuid}`])).code, 0);

  const notSnap = await xe(tm, ['snapshot-revert', `uuid=${uuid}`]);
  assert.deepEqual(
    [notSnap.code, notSnap.stderr],
    [1, `Error: This operation can only be performed on a VM snapshot. ${uuid} is not a VM snapshot.\n`],
  );
  const none = await xe(tm, ['snapshot-revert']);
  assert.deepEqual(
    [none.code, none.stderr],
    [1, 'Error: Required parameter not found: snapshot-uuid or uuid.\n'],
  );

  const q = await xe(tm, ['vm-snapshot-with-quiesce', `uuid=${uuid}`, 'new-name-label=q']);
  // MESSAGE_REMOVED, printed by xe as xapi's error table words it.
  assert.deepEqual([q.code, q.stderr], [1, 'This function is no longer available.\n']);
});
