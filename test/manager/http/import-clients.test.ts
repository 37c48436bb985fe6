// /import and /import_metadata through real clients: xe vm-import (the real xe client code over
// the thin CLI protocol's HttpPut, preserve=, sr-uuid=, metadata=true dry-run=true) and Xen
// Orchestra's xen-api putResource (probe PUT first, then the stream; result = the VM refs).
import assert from 'node:assert/strict';
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createClient, type Xapi } from 'xen-api';
import { tempDir } from '../../helpers/tmp.js';
import { xe as runXe } from '../cli/harness.js';
import { startStorageManager } from '../storage/harness.js';
import { buildXva, sourceVm } from './import-harness.js';

test('xe vm-import, metadata import with dry-run, xen-api putResource', { timeout: 300_000 }, async (t) => {
  const m = await startStorageManager(t);
  const dir = tempDir(t);
  const src = await sourceVm(m, dir);
  const file = await buildXva(dir, src, 'vm.xva', { compression: 'zstd' });
  const xe = async (args: string[]) => {
    const r = await runXe(m, args, { via: 'tcp', progress: true });
    return { ...r, stdout: r.stdout.trim() };
  };

  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const srUuid = await m.call('SR.get_uuid', await m.call<string>('pool.get_default_SR', pool));
  const srcUuid = await m.call('VM.get_uuid', src.vm);
  const r = await xe(['vm-import', `filename=${file}`, `sr-uuid=${srUuid}`, 'preserve=true', 'force=true']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    srcUuid,
    'preserve=true (force: replacing the older VM) keeps the uuid; xe prints it',
  );
  assert.match(r.stderr, /100% \[#{40}\]/, 'a progress line on the terminal');
  const again = await xe(['vm-import', `filename=${file}`]);
  assert.equal(again.code, 0, again.stderr);
  const vm2 = await m.call<string>('VM.get_by_uuid', again.stdout);
  assert.equal(await m.call('VM.get_name_label', vm2), 'import-src');
  // A hostile archive: the command fails with the task's error, nothing is left.
  const vms = m.manager.svc.db.all('VM').size;
  const bad = await buildXva(dir, src, 'bad.xva', { mutate: 'bad_checksum' });
  const b = await xe(['vm-import', `filename=${bad}`]);
  assert.equal(b.code, 1);
  assert.match(
    b.stderr,
    /Some data checksums were incorrect/,
    "xapi's text for IMPORT_ERROR_SOME_CHECKSUMS_FAILED",
  );
  assert.equal(m.manager.svc.db.all('VM').size, vms);
  assert.match((await xe(['vm-import', `filename=${file}`, 'dry-run=true'])).stderr, /support dry-run/);

  // Metadata import of an ova.xml-only tar: dry run creates nothing, then the real one reuses
  // the existing disks (vdi remapping by uuid onto themselves).
  const meta = await buildXva(dir, { ova: src.ova, disks: [] }, 'meta.tar');
  const dry = await xe(['vm-import', `filename=${meta}`, 'metadata=true', 'dry-run=true', 'force=true']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.stdout, 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx');
  assert.equal(m.manager.svc.db.all('VM').size, vms, 'a dry run creates nothing');
  const real = await xe(['vm-import', `filename=${meta}`, 'metadata=true', 'force=true']);
  assert.equal(real.code, 0, real.stderr);
  assert.equal(m.manager.svc.db.all('VM').size, vms + 1);

  // Xen Orchestra: putResource of a stream with a length (probe, then the upload).
  const xapi: Xapi = createClient({
    url: m.httpUrl,
    auth: { user: 'root', password: m.rootPassword },
    watchEvents: ['task'],
    debounce: 10,
  });
  await xapi.connect();
  t.after(() => xapi.disconnect());
  const body = Object.assign(createReadStream(file), { length: statSync(file).size });
  const result = await (xapi as any).putResource(body, '/import/', {
    query: { sr_id: await m.call('pool.get_default_SR', pool) },
  });
  const refs = Array.isArray(result) ? result : [result];
  assert.equal(refs.length, 1, JSON.stringify(result));
  assert.equal(await m.call('VM.get_name_label', refs[0]), 'import-src');
  writeFileSync(join(dir, 'done'), '');
});
