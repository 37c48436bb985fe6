// event.from replies are sent from bytes encoded once per batch (shared by every watcher that
// receives the batch): they must equal the general encoders' replies, for JSON-RPC v1/v2 with
// any id and for XML-RPC, with text that needs escaping, adds, mods and dels.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { EventService } from '../../../src/manager/events/event-service.js';
import { jsonEncode, jsonEventBatchReply, XmlEncoders } from '../../../src/manager/rpc/endpoints.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import type { TypeDesc } from '../../../src/shared/datamodel/types.js';
import { jsonSuccess, xmlSuccess } from '../../../src/shared/wire/index.js';
import { tempDir } from '../../helpers/tmp.js';

test('event batch replies from shared bytes equal the general encoders', async (t) => {
  const dir = tempDir(t, 'berth-ebr-');
  const db = new Database(MODEL, new SqliteBackend(`${dir}/db.sqlite`, MODEL));
  const events = new EventService(db, (_cls, row) => row);
  t.after(() => events.stop());
  const gone = db.create('VM', baseVmRecord({ name_label: 'to be deleted' }));
  const kept = db.create('VM', baseVmRecord({ name_label: 'kept' }));
  const { token } = await events.from('s', ['vm'], '', 0);
  db.create('VM', baseVmRecord({ name_label: 'new <&> "q" \x7f ünï 🚀', other_config: { 'k\x7f<': 'v&' } }));
  db.update('VM', kept, { name_description: 'changed \x7f' });
  db.destroy('VM', gone);
  const batch = await events.from('s', ['vm'], token, 0);
  assert.deepEqual(
    batch.events.map((e) => e.operation),
    ['add', 'mod', 'del'],
  );
  // Two watchers with the same token share the batch object.
  assert.equal(await events.from('s2', ['vm'], token, 0), batch);
  const type = MODEL.classes.event.messages.find((m) => m.name === 'from')!.result as TypeDesc;
  assert.deepEqual(type, { kind: 'record', cls: 'event_batch' });
  for (const [version, id] of [
    [2, 3],
    [1, 'x-\x7f'],
  ] as const) {
    for (let i = 0; i < 2; i++) {
      const pieces = jsonEventBatchReply(type, batch, version, id);
      assert.ok(pieces);
      assert.deepEqual(Buffer.concat(pieces), Buffer.from(jsonSuccess(version, id, jsonEncode(type, batch))));
    }
  }
  const encoders = new XmlEncoders(MODEL);
  const expectedXml = Buffer.from(xmlSuccess(new XmlEncoders(MODEL).encoder(type)(batch)));
  for (let i = 0; i < 2; i++)
    assert.deepEqual(Buffer.concat(encoders.eventBatchReply(type, batch)!), expectedXml);
  assert.equal(jsonEventBatchReply({ kind: 'string' } as TypeDesc, 'x', 2, 1), undefined);
  assert.equal(encoders.eventBatchReply({ kind: 'record', cls: 'VM' } as TypeDesc, {}), undefined);
});
