import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { tempDir } from '../../helpers/tmp.js';

function open(dir: string) {
  const backend = new SqliteBackend(join(dir, 'berth.db'), MODEL);
  return { backend, db: new Database(MODEL, backend) };
}

test('objects survive a reopen with every field typed, and relations are rebuilt', (t) => {
  const dir = tempDir(t);
  const a = open(dir);
  const vm = a.db.create('VM', baseVmRecord({ name_label: 'one', other_config: { k: 'v' } }));
  const vbd = a.db.create('VBD', {
    VM: vm,
    userdevice: '0',
    bootable: true,
    mode: 'RW',
    type: 'Disk',
    empty: false,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  assert.deepEqual(a.db.get('VM', vm)!.VBDs, [vbd]);
  a.backend.close();

  const b = open(dir);
  const row = b.db.get('VM', vm)!;
  assert.equal(row.name_label, 'one');
  assert.deepEqual(row.other_config, { k: 'v' });
  assert.equal(row.memory_static_max, 256 * 1024 * 1024);
  assert.equal(row.is_a_template, false);
  assert.equal(row.power_state, 'Halted');
  assert.deepEqual(row.VBDs, [vbd], 'VM.VBDs rebuilt from VBD.VM');
  assert.equal(b.db.refByUuid('VM', String(row.uuid)), vm);
  b.backend.close();
});

test('a failing transaction leaves memory and disk unchanged', (t) => {
  const dir = tempDir(t);
  const a = open(dir);
  const vm = a.db.create('VM', baseVmRecord({ name_label: 'keep' }));
  const gen = a.db.currentGeneration;
  assert.throws(() =>
    a.db.transaction(() => {
      a.db.update('VM', vm, { name_label: 'changed' });
      a.db.create('VM', baseVmRecord({ name_label: 'extra' }));
      throw new Error('boom');
    }),
  );
  assert.equal(a.db.get('VM', vm)!.name_label, 'keep');
  assert.equal(a.db.count('VM'), 1);
  assert.equal(a.db.currentGeneration, gen);
  a.backend.close();
  const b = open(dir);
  assert.equal(b.db.count('VM'), 1);
  assert.equal(b.db.get('VM', vm)!.name_label, 'keep');
  b.backend.close();
});

test('duplicate uuids are refused with DB_UNIQUENESS_CONSTRAINT_VIOLATION', (t) => {
  const { db, backend } = open(tempDir(t));
  t.after(() => backend.close());
  const uuid = '11111111-2222-3333-4444-555555555555';
  db.create('VM', baseVmRecord({ uuid }));
  assert.throws(
    () => db.create('VM', baseVmRecord({ uuid })),
    (e: any) => e.code === 'DB_UNIQUENESS_CONSTRAINT_VIOLATION',
  );
});

test('changing a reference moves the object between back-reference sets and logs mods', (t) => {
  const { db, backend } = open(tempDir(t));
  t.after(() => backend.close());
  const vm1 = db.create('VM', baseVmRecord());
  const vm2 = db.create('VM', baseVmRecord());
  const vif = db.create('VIF', {
    VM: vm1,
    device: '0',
    network: 'OpaqueRef:NULL',
    MAC: '',
    MTU: 1500,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  const since = db.currentGeneration;
  db.update('VIF', vif, { VM: vm2 });
  assert.deepEqual(db.get('VM', vm1)!.VIFs, []);
  assert.deepEqual(db.get('VM', vm2)!.VIFs, [vif]);
  const changed = db.changesSince(since)!.map((c) => `${c.op} ${c.cls} ${c.ref}`);
  assert.deepEqual(changed.sort(), [`mod VIF ${vif}`, `mod VM ${vm1}`, `mod VM ${vm2}`].sort());
});
