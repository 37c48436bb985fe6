// `berth pool` and `berth sr` verbs against a real manager with a real in-process agent (file SRs
// in the test's data directory).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import type { CliError } from '../../../src/clients/berth/errors.js';
import { deviceConfig } from '../../../src/clients/berth/infra/sr-config.js';
import { poolNoun } from '../../../src/clients/berth/nouns/pool.js';
import { srNoun } from '../../../src/clients/berth/nouns/sr.js';
import type { XenApiError } from '../../../src/shared/errors.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';

const cliError = (code: number, re: RegExp) => (e: CliError) => e.exitCode === code && re.test(e.message);

test('pool set: name, description, default SRs, other-config; a bad SR changes nothing', async (t) => {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));
  const [pool] = await api.allRecords('pool');
  const [local] = await api.allRecords('SR');
  await api.call('pool.set_default_SR', pool.ref, 'OpaqueRef:NULL');

  await assert.rejects(
    runVerb(api, poolNoun, 'set', pool, { name: 'prod', default_sr: 'no-such-sr' }),
    cliError(252, /no SR found matching 'no-such-sr'/),
  );
  assert.equal((await api.refresh(pool)).record.name_label, '', 'nothing changed');

  const r = await runVerb(api, poolNoun, 'set', pool, {
    name: 'prod',
    description: 'the production pool',
    default_sr: 'Local storage',
    other_config: { owner: 'ops' },
  });
  assert.equal(r.outcome, true);
  const after = (await api.refresh(pool)).record;
  assert.equal(after.name_label, 'prod');
  assert.equal(after.name_description, 'the production pool');
  assert.equal(after.default_SR, local.ref);
  assert.equal((after.other_config as Record<string, string>).owner, 'ops');

  const hosts = (await runVerb(api, poolNoun, 'hosts', [pool])).outcome as { records: ApiObject[] };
  assert.deepEqual(
    hosts.records.map((h) => h.ref),
    (await api.allRecords('host')).map((h) => h.ref),
  );
});

test('sr create, scan, statistics, discover, remove (forget) and destroy', async (t) => {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));
  const dir = join(m.dataDir, 'sr', 'infra-a');

  await assert.rejects(
    runVerb(api, srNoun, 'create', undefined, { type: 'file' }),
    cliError(253, /a name \(-n\)/),
  );
  await assert.rejects(
    runVerb(api, srNoun, 'create', undefined, { name: 'x' }),
    cliError(253, /a type \(-t\)/),
  );
  await assert.rejects(
    runVerb(api, srNoun, 'create', undefined, { name: 'x', type: 'file', path: '/a', host: 'nohost' }),
    cliError(252, /no host found matching 'nohost'/),
  );
  await assert.rejects(
    runVerb(api, srNoun, 'create', undefined, { name: 'x', type: 'nosuch', device_config: { a: 'b' } }),
    (e: XenApiError) => e.code === 'SR_UNKNOWN_DRIVER',
  );

  const made = (await runVerb(api, srNoun, 'create', undefined, { name: 'images', type: 'file', path: dir }))
    .outcome as ApiObject;
  assert.equal(made.cls, 'SR');
  assert.equal(made.record.name_label, 'images');
  assert.equal(made.record.type, 'file');
  assert.ok(existsSync(dir));
  const [pbd] = made.record.PBDs as string[];
  assert.deepEqual(await api.call('PBD.get_device_config', pbd), { location: dir });
  assert.equal(await api.call('PBD.get_currently_attached', pbd), true);

  assert.equal((await runVerb(api, srNoun, 'scan', [made])).outcome, true);
  const sources = (await api.call('SR.get_data_sources', made.ref)) as unknown[];
  const stats = (await runVerb(api, srNoun, 'statistics', [made])).outcome;
  assert.equal(stats === undefined ? 0 : String(stats).split('\n').length, sources.length);

  // SR.probe of the directory: the SR found there, in SM's XML.
  const probe = String(
    (await runVerb(api, srNoun, 'discover', undefined, { type: 'file', path: dir })).outcome,
  );
  assert.match(probe, new RegExp(`<SR><UUID>${made.record.uuid}</UUID><Location>${dir}</Location></SR>`));

  // remove = forget: the SR leaves the database, its directory stays.
  assert.equal((await runVerb(api, srNoun, 'remove', made)).outcome, true);
  assert.ok(!(await api.allRecords('SR')).some((s) => s.ref === made.ref));
  assert.ok(existsSync(dir), 'forget keeps the data');

  // destroy (and remove -f) wipe it.
  const dir2 = join(m.dataDir, 'sr', 'infra-b');
  mkdirSync(dir2, { recursive: true });
  const b = (await runVerb(api, srNoun, 'create', undefined, { name: 'scratch', type: 'file', path: dir2 }))
    .outcome as ApiObject;
  assert.equal((await runVerb(api, srNoun, 'remove', b, { format: true })).outcome, true);
  assert.ok(!(await api.allRecords('SR')).some((s) => s.ref === b.ref));
  assert.ok(!existsSync(dir2), 'destroy removes the data');
});

test('sr -P goes where the type keeps its path', () => {
  assert.deepEqual(deviceConfig('file', '/srv/a'), { location: '/srv/a' });
  assert.deepEqual(deviceConfig('iso', '/srv/iso'), { location: '/srv/iso' });
  assert.deepEqual(deviceConfig('lvm', '/dev/sdb,/dev/sdc'), { device: '/dev/sdb,/dev/sdc' });
  assert.deepEqual(deviceConfig('nfs', 'nas:/export/a', { nfsversion: 4 }), {
    server: 'nas',
    serverpath: '/export/a',
    nfsversion: '4',
  });
  assert.deepEqual(deviceConfig('file', '/a', { location: '/b' }), { location: '/b' }, '-c wins');
  assert.throws(() => deviceConfig('nfs', '/export'), cliError(253, /server:\/exported\/path/));
  assert.throws(() => deviceConfig('ext', '/x'), cliError(253, /-P has no meaning for SR type 'ext'/));
});
