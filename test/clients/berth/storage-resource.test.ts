// `berth storage-resource` against a real manager running the example controller plugin
// (examples/storage-plugins/example-controller.ts): a root scanned into the store, its
// resources listed, alerts (own, propagated, the pool's) and statistics read.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { arrays } from '../../../examples/storage-plugins/example-controller.js';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import { storageResourceNoun } from '../../../src/clients/berth/nouns/storage-resource.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';

const EXAMPLE = join(import.meta.dirname, '../../../examples/storage-plugins/example-controller.ts');

const ARRAY = {
  controllers: [
    { index: 0 as const, status: 'OK' as const },
    { index: 1 as const, status: 'OK' as const },
  ],
  shelves: [{ shelf: 0, fans: [3000, 400] }],
  drives: [
    { serial: 'SN-I1', shelf: 0, bytes: 4e12, status: 'OK' as const, celsius: 31 },
    { serial: 'SN-I2', shelf: 0, bytes: 4e12, status: 'FAILED' as const, celsius: 44 },
  ],
  pools: [{ id: 1, raid: 'raid1' as const, drives: ['SN-I1', 'SN-I2'] }],
  luns: [{ id: 7, name: 'lun-seven', serial: 'LUNSERIAL7', pool: 1, bytes: 2e12 }],
};

test('storage-resource list, alerts and statistics', { timeout: 120_000 }, async (t) => {
  arrays.set('array-infra.example', structuredClone(ARRAY));
  t.after(() => arrays.delete('array-infra.example'));
  const dataDir = tempDir(t);
  mkdirSync(join(dataDir, 'storage-plugins'));
  symlinkSync(EXAMPLE, join(dataDir, 'storage-plugins', 'example-controller.ts'));
  const m = await startManager(t, { dataDir, agent: false });
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));

  // Nothing reported yet: no alerts at all.
  assert.equal((await runVerb(api, storageResourceNoun, 'alerts', [])).outcome, undefined);

  await api.call('storage_resource.create_root', 'example-controller', 'Couplet', {
    address_1: 'array-infra.example',
    address_2: 'b-array-infra.example',
  });
  let all: ApiObject[] = [];
  for (let i = 0; i < 200 && all.length !== 10; i++) {
    all = await api.allRecords('storage_resource');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(all.length, 10, 'root, 2 controllers, shelf, 2 fans, 2 drives, pool, LUN');
  const listed = (await runVerb(api, storageResourceNoun, 'list', all)).outcome as { records: ApiObject[] };
  assert.equal(listed.records.length, 10);
  const failed = all.find((r) => (r.record.attributes as Record<string, string>).serial_number === 'SN-I2');
  assert.ok(failed);

  // The failed drive: its own alert and the slow fan's, propagated to it.
  const own = String(
    (await runVerb(api, storageResourceNoun, 'alerts', [failed], {}, [], { id: String(failed.record.uuid) }))
      .outcome,
  ).split('\n');
  assert.ok(
    own.some(
      (l) => / ERROR Drive failure/.test(l) && l.endsWith(`[${failed.record.uuid}]`) && !/cleared/.test(l),
    ),
    own.join('|'),
  );
  assert.ok(
    own.some((l) => /Fan slow.*\(propagated\)/.test(l)),
    own.join('|'),
  );

  // No selection: the pool's alerts (get_all_alerts), the drive failure among them.
  const pool = String((await runVerb(api, storageResourceNoun, 'alerts', all)).outcome).split('\n');
  const expected = (await api.call('storage_resource.get_all_alerts', false)) as unknown[];
  assert.equal(pool.length, expected.length);
  assert.ok(pool.some((l) => / ERROR Drive failure/.test(l)));

  const stats = (await runVerb(api, storageResourceNoun, 'statistics', [failed])).outcome;
  assert.equal(stats, `${String(failed.record.label)} temperature: 44`);
});
