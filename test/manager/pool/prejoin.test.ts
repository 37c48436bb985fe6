// xapi's pre-join checks on a joining host's database against the master's facts (pure).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Database, type Row } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { type MasterFacts, preJoinChecks } from '../../../src/manager/pool/prejoin.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { tempDir } from '../../helpers/tmp.js';

const SV = {
  xapi: '25.6',
  platform_name: 'Berth',
  product_version: '1',
  platform_version: '1',
  db_schema: '5.900',
};

function joiner(t: import('node:test').TestContext) {
  const backend = new SqliteBackend(join(tempDir(t), 'berth.db'), MODEL);
  t.after(() => backend.close());
  const db = new Database(MODEL, backend);
  const host = db.create('host', {
    API_version_major: 2,
    API_version_minor: 21,
    software_version: SV,
    cpu_info: { vendor: 'GenuineIntel' },
  });
  return { db, host };
}

const master = (over: Row = {}): MasterFacts => ({
  pool: { cpu_info: { vendor: 'GenuineIntel' } },
  master: { uuid: 'master-uuid', API_version_major: 2, API_version_minor: 21, software_version: SV, ...over },
});

function fails(fn: () => void, code: string, params?: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof XenApiError);
    assert.equal(e.code, code);
    if (params) assert.deepEqual(e.params, params);
    return true;
  });
}

test('pre-join checks: each fault gets its xapi error; a clean host passes', (t) => {
  const { db, host } = joiner(t);
  preJoinChecks(db, host, master(), false);

  fails(
    () => preJoinChecks(db, host, master({ API_version_minor: 20 }), false),
    'POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION',
    ['2.21', '2.20'],
  );
  fails(
    () => preJoinChecks(db, host, master({ software_version: { ...SV, db_schema: '5.901' } }), true),
    'POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA',
    ['5.900', '5.901'],
  );
  fails(
    () => preJoinChecks(db, host, master({ software_version: { ...SV, product_version: '2' } }), false),
    'HOSTS_NOT_HOMOGENEOUS',
    ['Software version differs'],
  );
  // join_force skips the homogeneity checks only.
  preJoinChecks(db, host, master({ software_version: { ...SV, product_version: '2' } }), true);

  const vm = db.create('VM', { name_label: 'v', power_state: 'Halted', current_operations: { t: 'start' } });
  fails(
    () => preJoinChecks(db, host, master(), false),
    'JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS',
  );
  db.destroy('VM', vm);

  const net = db.create('network', { bridge: 'xenbr0' });
  const pif = db.create('PIF', { host, network: net, device: 'eth0', management: false });
  fails(() => preJoinChecks(db, host, master(), false), 'HOST_STILL_BOOTING');
  db.update('PIF', pif, { management: true });
  preJoinChecks(db, host, master(), false);

  const bond = db.create('Bond', { master: pif });
  fails(() => preJoinChecks(db, host, master(), false), 'POOL_JOINING_HOST_HAS_BONDS');
  db.destroy('Bond', bond);
  const other = db.create('PIF', { host, network: net, device: 'eth1', management: false });
  db.create('VLAN', { untagged_PIF: other, tag: 5 });
  fails(() => preJoinChecks(db, host, master(), false), 'POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS');
});
