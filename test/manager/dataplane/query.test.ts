// Query parameters of the metadata handlers, as xapi reads them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importQuery, metadataExportQuery } from '../../../src/manager/dataplane/query.js';

test('/export_metadata options: defaults, strict booleans, device types', () => {
  assert.deepEqual(metadataExportQuery({}), {
    all: false,
    includeDom0: true,
    withSnapshotMetadata: true,
    includeVhdParents: false,
    excludedDevices: [],
  });
  assert.deepEqual(
    metadataExportQuery({
      all: 'true',
      include_dom0: 'false',
      export_snapshots: 'false',
      excluded_device_types: 'vif,VBD',
    }),
    {
      all: true,
      includeDom0: false,
      withSnapshotMetadata: false,
      includeVhdParents: false,
      excludedDevices: ['vif', 'vbd'],
    },
  );
  assert.throws(() => metadataExportQuery({ export_snapshots: 'yes' }), {
    code: 'INVALID_VALUE',
    params: ['export_snapshots', 'yes'],
  });
  assert.throws(() => metadataExportQuery({ excluded_device_types: 'nic' }), { code: 'INVALID_VALUE' });
});

test('/import_metadata flags and vdi remapping', () => {
  const u1 = '11111111-1111-4111-8111-111111111111';
  const u2 = '22222222-2222-4222-8222-222222222222';
  assert.deepEqual(
    importQuery({
      restore: 'true',
      force: 'TRUE',
      dry_run: 'true',
      [`vdi:${u1}`]: u2,
      vdi: 'x',
      'vdi:': 'y',
    }),
    {
      restore: true,
      force: false,
      dryRun: true,
      live: false,
      checkCpu: false,
      vdiMap: { [u1]: u2 },
    },
  );
});
