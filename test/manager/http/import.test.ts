// PUT /import end to end: XVAs written by Python (tarfile + xxhash, xapi's layout; plain, gzip,
// zstd) uploaded over HTTP into an in-process manager with a real agent; the new volumes read
// back by qemu-img equal the data; restore keeps uuids; each hostile archive fails the task with
// xapi's error and leaves no record, file or NBD export; two imports at once; SR_FULL.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { tempDir } from '../../helpers/tmp.js';
import { startStorageManager } from '../storage/harness.js';
import {
  buildXva,
  importXva,
  leftovers,
  MiB,
  putFile,
  rawOf,
  resultRefs,
  sha,
  sourceVm,
} from './import-harness.js';

async function checkImported(m: any, dir: string, src: any, vm: string) {
  const rec = await m.call('VM.get_record', vm);
  const disks = [];
  for (const vbd of rec.VBDs) {
    const b = await m.call('VBD.get_record', vbd);
    if (b.type === 'Disk') disks.push({ userdevice: b.userdevice, vdi: b.VDI });
  }
  disks.sort((a, b) => a.userdevice.localeCompare(b.userdevice));
  assert.equal(disks.length, src.disks.length);
  // Export ids are in VBD order for this VM (Ref:n increasing with userdevice).
  const want = [...src.disks].sort((a: any, b: any) => a.id.localeCompare(b.id));
  for (const [i, d] of disks.entries()) {
    const got = await rawOf(m, d.vdi, dir);
    assert.equal(got.length, want[i].size);
    assert.equal(sha(got), sha(readFileSync(want[i].data)), `disk ${i} data`);
  }
  return rec;
}

test('PUT /import: plain, gzip and zstd XVAs from Python become VMs with the data', {
  timeout: 300_000,
}, async (t) => {
  const m = await startStorageManager(t);
  const dir = tempDir(t);
  const src = await sourceVm(m, dir);
  const srcUuid = await m.call('VM.get_uuid', src.vm);
  for (const compression of ['none', 'gzip', 'zstd'] as const) {
    const file = await buildXva(dir, src, `vm-${compression}.xva`, { compression });
    const { res, rec } = await importXva(m, {}, file);
    assert.equal(res.status, 200, res.body);
    assert.match(String(res.headers['task-id']), /^OpaqueRef:/);
    assert.equal(rec.status, 'success', JSON.stringify(rec.error_info));
    assert.match(rec.result, /^<value><array><data><value>OpaqueRef:/, 'xapi encodes the refs as an array');
    const vms = resultRefs(rec.result);
    assert.equal(vms.length, 1);
    assert.equal(rec.other_config.object_creation, 'complete');
    const vm = await checkImported(m, dir, src, vms[0]);
    assert.equal(vm.name_label, 'import-src');
    assert.notEqual(vm.uuid, srcUuid, 'a new VM (no restore)');
    assert.deepEqual(vm.current_operations, {});
  }
  assert.equal((await leftovers(m)).nbd, 0, 'every NBD export closed');
});

test('PUT /import?restore=true keeps uuids; sr_id chooses the SR; errors name xapi codes', {
  timeout: 300_000,
}, async (t) => {
  const a = await startStorageManager(t);
  const b = await startStorageManager(t);
  const dir = tempDir(t);
  const src = await sourceVm(a, dir);
  const file = await buildXva(dir, src, 'vm.xva', { compression: 'zstd' });
  const pool = (await b.call<string[]>('pool.get_all'))[0];
  const sr = await b.call<string>('pool.get_default_SR', pool);
  const { res, rec } = await importXva(b, { restore: 'true', sr_id: sr }, file);
  assert.equal(res.status, 200);
  assert.equal(rec.status, 'success', JSON.stringify(rec.error_info));
  const [vm] = resultRefs(rec.result);
  const got = await checkImported(b, dir, src, vm);
  assert.equal(got.uuid, await a.call('VM.get_uuid', src.vm), 'restore keeps the VM uuid');
  const srcVbdUuids = await Promise.all(
    (await a.call<string[]>('VM.get_VBDs', src.vm)).map((v) => a.call<string>('VBD.get_uuid', v)),
  );
  for (const vbd of got.VBDs)
    assert.ok(srcVbdUuids.includes(await b.call('VBD.get_uuid', vbd)), 'VBD uuids kept');
  // An unknown SR: refused before any byte is read (500, HANDLE_INVALID), task failed.
  const bad = await importXva(b, { sr_id: 'OpaqueRef:nope' }, file);
  assert.equal(bad.res.status, 500);
  assert.equal(bad.rec.status, 'failure');
  assert.deepEqual(bad.rec.error_info, ['HANDLE_INVALID', 'SR', 'OpaqueRef:nope']);
  // Without task_id: the answer waits for the outcome; an error is xapi's 500 text.
  const q = new URLSearchParams({ session_id: b.session.ref });
  const legacy = await buildXva(dir, src, 'legacy.xva', { mutate: 'legacy' });
  const r = await putFile(b.httpUrl, `/import?${q}`, legacy);
  assert.equal(r.status, 500);
  assert.match(r.body, /IMPORT_ERROR/);
  assert.match(r.body, /Legacy XVA format/);
  // Without task_id, success: 200 and a new VM.
  const before = b.manager.svc.db.all('VM').size;
  const ok = await putFile(
    b.httpUrl,
    `/import?${q}`,
    await buildXva(dir, src, 'vm2.xva', { compression: 'gzip' }),
  );
  assert.equal(ok.status, 200, ok.body);
  assert.equal(b.manager.svc.db.all('VM').size, before + 1);
});

const HOSTILE: [string, 'none' | 'gzip' | 'zstd', RegExp | string][] = [
  ['truncate', 'none', 'IMPORT_ERROR_PREMATURE_EOF'],
  ['truncate', 'zstd', 'IMPORT_ERROR_PREMATURE_EOF'],
  ['bad_checksum', 'gzip', 'IMPORT_ERROR_SOME_CHECKSUMS_FAILED'],
  ['ova_not_first', 'none', 'IMPORT_ERROR_UNEXPECTED_FILE'],
  ['out_of_order', 'none', /IMPORT_ERROR.*out of order/],
  ['dotdot', 'none', /IMPORT_ERROR.*unsafe member name/],
  ['absolute', 'none', /IMPORT_ERROR.*unsafe member name/],
  ['big_chunk', 'none', /IMPORT_ERROR.*larger than 1 MiB/],
  // Zero chunks past a disk's end: refused at the first (the next disk's chunk was expected).
  ['bomb', 'gzip', /IMPORT_ERROR.*(beyond the VDI's virtual size|expected a chunk of)/],
  ['legacy', 'none', /IMPORT_ERROR.*Legacy XVA format/],
];

test('hostile archives through HTTP: xapi errors, nothing left behind', { timeout: 300_000 }, async (t) => {
  const m = await startStorageManager(t);
  const dir = tempDir(t);
  const src = await sourceVm(m, dir);
  const before = await leftovers(m);
  const only = process.env.IMPORT_HOSTILE;
  for (const [mutate, compression, want] of HOSTILE.filter(([x]) => !only || x === only)) {
    const file = await buildXva(dir, src, `${mutate}-${compression}.xva`, { compression, mutate });
    const { rec } = await importXva(m, {}, file);
    assert.equal(rec.status, 'failure', `${mutate}: ${rec.status}`);
    const info = (rec.error_info as string[]).join(' ');
    if (typeof want === 'string') assert.equal(rec.error_info[0], want, `${mutate}: ${info}`);
    else assert.match(info, want, mutate);
    assert.deepEqual(await leftovers(m), before, `${mutate} left something behind`);
  }
  // force=true: a wrong checksum is tolerated (xapi: recorded, not fatal).
  const forced = await buildXva(dir, src, 'forced.xva', { mutate: 'bad_checksum' });
  const { rec } = await importXva(m, { force: 'true' }, forced);
  assert.equal(rec.status, 'success', JSON.stringify(rec.error_info));
});

test('VDI_TOO_LARGE and SR_FULL before any volume; two imports at once; cancel', {
  timeout: 300_000,
}, async (t) => {
  const m = await startStorageManager(t);
  const dir = tempDir(t);
  const src = await sourceVm(m, dir);
  const text = readFileSync(src.ova, 'utf8');
  const size = src.disks[0].size;
  const withSize = (n: number) =>
    text.replace(
      `<name>virtual_size</name><value>${size}</value>`,
      `<name>virtual_size</name><value>${n}</value>`,
    );
  assert.notEqual(withSize(1), text, 'the ova.xml names the size');
  const before = await leftovers(m);
  const huge = await buildXva(dir, src, 'huge.xva', { ova: withSize(2 ** 50) });
  const r1 = await importXva(m, {}, huge);
  assert.equal(r1.rec.error_info[0], 'VDI_TOO_LARGE', JSON.stringify(r1.rec.error_info));
  const full = await buildXva(dir, src, 'full.xva', { ova: withSize(2 ** 45) });
  const r2 = await importXva(m, {}, full);
  assert.equal(r2.rec.error_info[0], 'SR_FULL', JSON.stringify(r2.rec.error_info));
  assert.deepEqual(await leftovers(m), before);

  // Two at once.
  const file = await buildXva(dir, src, 'twice.xva', { compression: 'zstd' });
  const [x, y] = await Promise.all([importXva(m, {}, file), importXva(m, {}, file)]);
  assert.equal(x.rec.status, 'success', JSON.stringify(x.rec.error_info));
  assert.equal(y.rec.status, 'success', JSON.stringify(y.rec.error_info));
  assert.notEqual(resultRefs(x.rec.result)[0], resultRefs(y.rec.result)[0]);
  for (const r of [x, y]) await checkImported(m, dir, src, resultRefs(r.rec.result)[0]);

  // task.cancel while the client trickles: cancelled, nothing left.
  const mid = await leftovers(m);
  const plain = await buildXva(dir, src, 'plain.xva');
  const task = await m.call<string>('task.create', 'cancelled import', '');
  const q = new URLSearchParams({ session_id: m.session.ref, task_id: task });
  const http = await import('node:http');
  const data = readFileSync(plain);
  const req = http.request(new URL(`/import?${q}`, m.httpUrl), {
    method: 'PUT',
    headers: { 'content-length': data.length },
  });
  req.on('error', () => undefined);
  req.on('response', (res) => res.resume());
  req.write(data.subarray(0, Math.floor(data.length / 2)));
  const until = Date.now() + 20_000;
  while ((await m.call<any>('task.get_record', task)).other_config.object_creation !== 'complete') {
    if (Date.now() > until) throw new Error('import did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  await m.call('task.cancel', task);
  const { settledTask } = await import('./import-harness.js');
  const rec = await settledTask(m, task);
  req.destroy();
  assert.equal(rec.status, 'cancelled');
  assert.deepEqual(await leftovers(m), mid);
  void MiB;
});
