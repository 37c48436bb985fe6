// get_all_records over XML-RPC is sent from cached per-row bytes (XmlEncoders.recordMapReply):
// the bytes must equal the general string encoder's reply, before and after a row changes, and
// with text that needs escaping or is outside ASCII.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { jsonEncode, jsonRecordMapReply, XmlEncoders } from '../../../src/manager/rpc/endpoints.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import type { TypeDesc } from '../../../src/shared/datamodel/types.js';
import { jsonSuccess, xmlSuccess } from '../../../src/shared/wire/index.js';
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

test('get_all_records JSON-RPC reply from cached row bytes equals jsonSuccess(jsonEncode)', (t) => {
  const dir = tempDir(t, 'berth-rmr-json-');
  const db = new Database(MODEL, new SqliteBackend(`${dir}/db.sqlite`, MODEL));
  const refs = db.transaction(() => [
    db.create('VM', baseVmRecord({ name_label: 'plain' })),
    db.create(
      'VM',
      baseVmRecord({ name_label: 'del \x7f "q" \\ ünïcode 🚀 \u2028', other_config: { 'k\x7f': 'v\x01' } }),
    ),
    db.create('VM', baseVmRecord({ name_label: 'third' }), 'OpaqueRef:with-del-\x7f'),
  ]);
  const type = MODEL.classes.VM.messages.find((m) => m.name === 'get_all_records')!.result as TypeDesc;
  const all = () => Object.fromEntries(db.all('VM'));
  for (const [version, id] of [
    [2, 0],
    [1, 7],
    [2, 'id-\x7f-"x"'],
    [1, 'abc'],
  ] as const) {
    const expected = () => Buffer.from(jsonSuccess(version, id, jsonEncode(type, all())));
    const first = jsonRecordMapReply(type, all(), version, id);
    assert.ok(first);
    assert.deepEqual(Buffer.concat(first), expected());
    JSON.parse(Buffer.concat(first).toString('utf8'));
    // The cache serves the second reply; a changed row is re-encoded.
    assert.deepEqual(Buffer.concat(jsonRecordMapReply(type, all(), version, id)!), expected());
    db.update('VM', refs[0], { name_label: `renamed ${version} ${id}` });
    const after = Buffer.concat(jsonRecordMapReply(type, all(), version, id)!);
    assert.ok(after.includes(`renamed ${version}`));
    assert.deepEqual(after, expected());
    assert.deepEqual(
      Buffer.concat(jsonRecordMapReply(type, {}, version, id)!),
      Buffer.from(jsonSuccess(version, id, jsonEncode(type, {}))),
    );
  }
  // Copies of rows (not live) are encoded each time, with the same bytes.
  const copies = Object.fromEntries([...db.all('VM')].map(([r, row]) => [r, { ...row }]));
  assert.deepEqual(
    Buffer.concat(jsonRecordMapReply(type, copies, 2, 1)!),
    Buffer.from(jsonSuccess(2, 1, jsonEncode(type, copies))),
  );
  assert.equal(jsonRecordMapReply({ kind: 'string' } as TypeDesc, 'x', 2, 1), undefined);
});
