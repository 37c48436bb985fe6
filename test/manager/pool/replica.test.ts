// The replica format on its own: incremental dumps and full resyncs leave the replica's rows equal
// to the master's (sessions and tasks excepted), list fields included.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { applyDump, dumpSince, LOCAL_CLASSES } from '../../../src/manager/pool/replica.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { tempDir } from '../../helpers/tmp.js';

function open(t: TestContext): Database {
  const backend = new SqliteBackend(join(tempDir(t), 'berth.db'), MODEL);
  t.after(() => backend.close());
  return new Database(MODEL, backend);
}

function rows(db: Database): string {
  const out: Record<string, unknown> = {};
  for (const cls of db.storedClasses())
    if (!LOCAL_CLASSES.has(cls))
      out[cls] = Object.fromEntries([...db.all(cls)].sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify(out);
}

test('incremental dumps and full resyncs make the replica equal to the master', (t) => {
  const master = open(t);
  const replica = open(t);
  // The replica's own session stays; a stale object of an earlier master goes at the full sync.
  const session = replica.create('session', { auth_user_name: 'root' });
  replica.create('network', { name_label: 'stale', bridge: 'old0' });

  const host = master.create('host', { name_label: 'h' });
  const vm = master.create('VM', { name_label: 'v', resident_on: host });
  master.create('VBD', { VM: vm, device: 'xvda' });
  master.create('session', { auth_user_name: 'someone' });
  let d = dumpSince(master, -1, 'm1');
  assert.equal(d.full, true);
  applyDump(replica, d);
  assert.equal(rows(replica), rows(master));
  assert.ok(replica.get('session', session), 'local session kept');
  assert.equal(replica.count('session'), 1);

  let since = d.generation;
  master.update('VM', vm, { name_label: 'renamed' });
  const vbd2 = master.create('VBD', { VM: vm, device: 'xvdb' });
  const net = master.create('network', { name_label: 'n', bridge: 'xenbr0' });
  d = dumpSince(master, since, 'm1');
  assert.equal(d.full, false);
  assert.ok(d.rows.length >= 3 && d.rows.length < master.count('VM') + 10);
  applyDump(replica, d);
  assert.equal(rows(replica), rows(master));
  assert.deepEqual((replica.get('VM', vm)!.VBDs as string[]).includes(vbd2), true);

  since = d.generation;
  master.destroy('VBD', vbd2);
  master.destroy('network', net);
  d = dumpSince(master, since, 'm1');
  assert.equal(d.deletes.length, 2);
  applyDump(replica, d);
  assert.equal(rows(replica), rows(master));
  // Nothing changed: an empty dump.
  d = dumpSince(master, d.generation, 'm1');
  assert.equal(d.rows.length + d.deletes.length, 0);
});
