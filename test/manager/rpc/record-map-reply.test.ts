// get_all_records over XML-RPC is sent from cached per-row bytes (XmlEncoders.recordMapReply):
// the bytes must equal the general string encoder's reply, before and after a row changes, and
// with text that needs escaping or is outside ASCII.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { XmlEncoders } from '../../../src/manager/rpc/endpoints.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import type { TypeDesc } from '../../../src/shared/datamodel/types.js';
import { xmlSuccess } from '../../../src/shared/wire/index.js';
import { tempDir } from '../../helpers/tmp.js';

test('get_all_records XML reply from cached row bytes equals the string encoder', (t) => {
  const dir = tempDir(t, 'berth-rmr-');
  const db = new Database(MODEL, new SqliteBackend(`${dir}/db.sqlite`, MODEL));
  const refs = db.transaction(() => [
    db.create('VM', baseVmRecord({ name_label: 'plain' })),
    db.create('VM', baseVmRecord({ name_label: 'a <b> & "c" — ünïcode 🚀', other_config: { 'k&': '<v>' } })),
  ]);
  const encoders = new XmlEncoders(MODEL);
  const msg = MODEL.classes.VM.messages.find((m) => m.name === 'get_all_records')!;
  const type = msg.result as TypeDesc;
  const all = () => Object.fromEntries(db.all('VM'));
  const expected = () => Buffer.from(xmlSuccess(encoders.encoder(type)(all())));

  const first = encoders.recordMapReply(type, all());
  assert.ok(first);
  assert.deepEqual(Buffer.concat(first), expected());
  // A changed row is re-encoded; an unchanged one comes from the cache.
  db.update('VM', refs[0], { name_label: 'renamed' });
  const second = Buffer.concat(encoders.recordMapReply(type, all())!);
  assert.ok(second.includes('renamed'));
  assert.deepEqual(second, expected());
  assert.deepEqual(
    Buffer.concat(encoders.recordMapReply(type, {})!),
    Buffer.from(xmlSuccess(encoders.encoder(type)({}))),
  );
  // Other result types keep the string path.
  assert.equal(encoders.recordMapReply({ kind: 'string' } as TypeDesc, 'x'), undefined);
});
