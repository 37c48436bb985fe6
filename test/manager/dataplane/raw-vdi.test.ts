// /export_raw_vdi and /import_raw_vdi through a real manager and agent (file SR, qcow2 volumes
// served over NBD), checked with tools nobody here wrote: data put on disks with qemu-io, images
// checked with qemu-img check/compare/map/rebase, tars read with Python's tarfile + xxhash.
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { run, runChecked } from '../../../src/shared/exec.js';
import { volumePath } from '../../../src/shared/host/volume-path.js';
import { xe } from '../cli/harness.js';
import { type StorageManager, startStorageManager } from '../storage/harness.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

const vdiRec = (sr: string, size: number, name = 'raw vdi test') => ({
  SR: sr,
  virtual_size: size,
  type: 'user',
  sharable: false,
  read_only: false,
  other_config: {},
  name_label: name,
});

async function imageOf(m: StorageManager, vdi: string): Promise<string> {
  const rec = await m.call<any>('VDI.get_record', vdi);
  const sr = await m.call<any>('SR.get_record', rec.SR);
  const pbd = await m.call<any>('PBD.get_record', sr.PBDs[0]);
  return volumePath(sr.type, sr.uuid, pbd.device_config, rec.location)!.path;
}

const write = (path: string, fmt: string, pattern: number, off: number, len: number) =>
  runChecked('qemu-io', ['-f', fmt, '-c', `write -P ${pattern} ${off} ${len}`, path]);

async function toRaw(path: string, out: string, fmt?: string) {
  await runChecked('qemu-img', ['convert', '-U', ...(fmt ? ['-f', fmt] : []), '-O', 'raw', path, out]);
}

async function compare(a: string, fa: string, b: string, fb: string) {
  const r = await run('qemu-img', ['compare', '-U', '-f', fa, '-F', fb, a, b], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `qemu-img compare ${a} ${b}: ${r.stdout}${r.stderr}`);
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
}

function request(
  m: StorageManager,
  method: 'GET' | 'PUT',
  path: string,
  opts: { out?: string; file?: string; body?: Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, m.httpUrl);
    const length = opts.file ? statSync(opts.file).size : opts.body?.length;
    const req = http.request(
      u,
      { method, headers: length === undefined ? {} : { 'content-length': length } },
      async (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => (bytes += d.length));
        try {
          if (opts.out && res.statusCode === 200) {
            res.removeAllListeners('data');
            const counter = async function* () {
              for await (const d of res) {
                bytes += d.length;
                yield d;
              }
            };
            await pipeline(counter, createWriteStream(opts.out));
          } else await new Promise((r) => res.on('end', r).on('close', r));
        } catch {
          /* connection cut after the status line: the task tells */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes });
      },
    );
    // The server may cut an upload it refused (after its status line): the task tells why.
    req.on('error', (e) =>
      opts.file || opts.body ? resolve({ status: 0, headers: {}, bytes: 0 }) : reject(e),
    );
    if (opts.file) createReadStream(opts.file).pipe(req);
    else req.end(opts.body);
  });
}

async function session(m: StorageManager) {
  return m.manager.svc.sessions.localLogin('raw-vdi-test');
}

/** A request under a task of ours: its outcome (status, result or error) after the reply. */
async function withTask(m: StorageManager, f: (q: string) => Promise<Reply>) {
  const task = await m.call<string>('task.create', 'raw vdi test', '');
  const reply = await f(`task_id=${encodeURIComponent(task)}`);
  for (let i = 0; i < 100; i++) {
    const st = await m.call<string>('task.get_status', task);
    if (st !== 'pending') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const rec = await m.call<any>('task.get_record', task);
  return {
    reply,
    status: rec.status as string,
    result: String(rec.result),
    error: rec.error_info as string[],
  };
}

async function setup(t: import('node:test').TestContext) {
  const m = await startStorageManager(t);
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const s = await session(m);
  const q = (path: string, params: Record<string, string>) =>
    `${path}?${new URLSearchParams({ session_id: s, ...params }).toString()}`;
  return { m, sr, q, dir: m.dataDir };
}

/** Known data at a few places, a hole, and the last MiB. */
async function fillKnown(path: string, fmt = 'qcow2') {
  await write(path, fmt, 0xab, 0, 3 * MiB);
  await write(path, fmt, 0xcd, 10 * MiB + 64 * 1024, 128 * 1024);
  await write(path, fmt, 0x5a, 40 * MiB, 5 * MiB + 512);
  await write(path, fmt, 0x11, SIZE - MiB, MiB);
}

const exportsLeft = (m: StorageManager) => m.manager.svc.hosts.local().blockdev_nbd_list();

test('export raw, vhd, qcow2 and tar: qemu-img and Python read back the disk', {
  timeout: 300_000,
}, async (t) => {
  const { m, sr, q, dir } = await setup(t);
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
  const uuid = await m.call<string>('VDI.get_uuid', vdi);
  const img = await imageOf(m, vdi);
  await fillKnown(img);
  const ref = join(dir, 'ref.raw');
  await toRaw(img, ref, 'qcow2');

  // raw: the exact bytes, Content-Length known, named as xapi names it.
  const raw = join(dir, 'out.raw');
  const r1 = await request(m, 'GET', q('/export_raw_vdi', { vdi: uuid, format: 'raw' }), { out: raw });
  assert.equal(r1.status, 200);
  assert.equal(r1.headers['content-type'], 'application/octet-stream');
  assert.equal(r1.headers['content-disposition'], `attachment; filename="${uuid}.raw"`);
  assert.equal(Number(r1.headers['content-length']), SIZE);
  assert.ok(readFileSync(raw).equals(readFileSync(ref)));

  // vhd (the vdi given as a ref; format case-insensitive as xapi's of_string)
  const vhd = join(dir, 'out.vhd');
  const r2 = await request(m, 'GET', q('/export_raw_vdi', { vdi, format: 'VHD' }), { out: vhd });
  assert.equal(r2.status, 200);
  assert.equal(r2.headers['content-type'], 'application/vhd');
  assert.equal(Number(r2.headers['content-length']), statSync(vhd).size);
  await compare(vhd, 'vpc', ref, 'raw');

  // qcow2
  const qc = join(dir, 'out.qcow2');
  const r3 = await request(m, 'GET', q('/export_raw_vdi', { vdi: uuid, format: 'qcow2' }), { out: qc });
  assert.equal(r3.status, 200);
  assert.equal(Number(r3.headers['content-length']), statSync(qc).size);
  await runChecked('qemu-img', ['check', '-f', 'qcow2', qc]);
  await compare(qc, 'qcow2', ref, 'raw');
  assert.ok(statSync(qc).size < 16 * MiB, 'sparse: only allocated clusters');

  // tar: Python's tarfile + xxhash rebuild the disk from the chunks, checking every checksum.
  const tar = join(dir, 'out.tar');
  const r4 = await request(m, 'GET', q('/export_raw_vdi', { vdi: uuid, format: 'tar' }), { out: tar });
  assert.equal(r4.status, 200);
  assert.equal(r4.headers['content-type'], 'application/x-tar');
  const rebuilt = join(dir, 'tar.raw');
  const py = `
import sys, tarfile, xxhash
tf = tarfile.open(sys.argv[1]); out = open(sys.argv[2], 'wb'); out.truncate(int(sys.argv[3]))
names = tf.getnames(); data = {}
for m in tf.getmembers():
    b = tf.extractfile(m).read()
    if m.name.endswith('.xxhash'):
        assert xxhash.xxh64(data[m.name[:-7]]).hexdigest() == b.decode().lower(), m.name
    else:
        assert m.name.startswith('vdi/') and len(b) <= 1048576, m.name
        data[m.name] = b; out.seek(int(m.name[4:]) * 1048576); out.write(b)
print(len(data))
`;
  const count = Number(await runChecked('/usr/bin/python3', ['-c', py, tar, rebuilt, String(SIZE)]));
  assert.ok(count < SIZE / MiB, `zero chunks omitted (${count} chunks)`);
  assert.ok(readFileSync(rebuilt).equals(readFileSync(ref)));
  // Two exports of one disk at once both work (both hold the VDI as `copy`).
  const [a, b] = [join(dir, 'a.raw'), join(dir, 'b.raw')];
  const both = await Promise.all([
    request(m, 'GET', q('/export_raw_vdi', { vdi: uuid }), { out: a }),
    request(m, 'GET', q('/export_raw_vdi', { vdi: uuid, format: 'raw' }), { out: b }),
  ]);
  assert.deepEqual(
    both.map((x) => x.status),
    [200, 200],
  );
  assert.ok(readFileSync(a).equals(readFileSync(ref)) && readFileSync(b).equals(readFileSync(ref)));
  assert.deepEqual(await exportsLeft(m), [], 'every NBD export closed');
  assert.deepEqual(await m.call('VDI.get_current_operations', vdi), {});
});

test('differential export with base=: only what changed; applied on the base it reads as the disk', {
  timeout: 300_000,
}, async (t) => {
  const { m, sr, q, dir } = await setup(t);
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
  await fillKnown(await imageOf(m, vdi));
  const snap = await m.call<string>('VDI.snapshot', vdi, {});
  const snapUuid = await m.call<string>('VDI.get_uuid', snap);
  // New writes after the snapshot: 2 MiB + 64 KiB, one of them overwriting old data.
  const img = await imageOf(m, vdi);
  await write(img, 'qcow2', 0x77, 20 * MiB, 2 * MiB);
  await write(img, 'qcow2', 0x78, 41 * MiB, 64 * 1024);
  const now = join(dir, 'now.raw');
  await toRaw(img, now, 'qcow2');

  const base = join(dir, 'base.qcow2');
  assert.equal(
    (await request(m, 'GET', q('/export_raw_vdi', { vdi: snapUuid, format: 'qcow2' }), { out: base })).status,
    200,
  );
  const delta = join(dir, 'delta.qcow2');
  const r = await request(m, 'GET', q('/export_raw_vdi', { vdi, base: snapUuid, format: 'qcow2' }), {
    out: delta,
  });
  assert.equal(r.status, 200);
  await runChecked('qemu-img', ['check', '-f', 'qcow2', delta]);
  // qemu-img map of the delta alone: exactly the changed 64 KiB clusters.
  const map = JSON.parse(await runChecked('qemu-img', ['map', '--output=json', '-f', 'qcow2', delta])) as {
    start: number;
    length: number;
    data: boolean;
  }[];
  const data = map.filter((e) => e.data).map((e) => [e.start, e.length]);
  assert.deepEqual(data, [
    [20 * MiB, 2 * MiB],
    [41 * MiB, 64 * 1024],
  ]);
  // Put it on the base: it reads as the disk reads now.
  await runChecked('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-b', base, '-F', 'qcow2', delta]);
  await compare(delta, 'qcow2', now, 'raw');

  // A vhd delta is a differencing VHD naming the base; raw with base= is the whole disk (xapi).
  const dvhd = join(dir, 'delta.vhd');
  assert.equal(
    (await request(m, 'GET', q('/export_raw_vdi', { vdi, base: snap, format: 'vhd' }), { out: dvhd })).status,
    200,
  );
  const v = readFileSync(dvhd);
  assert.equal(v.readUInt32BE(60), 4, 'disk type 4: differencing');
  assert.ok(v.length < 8 * MiB, `${v.length} bytes`);
  const fullRaw = join(dir, 'full.raw');
  assert.equal(
    (await request(m, 'GET', q('/export_raw_vdi', { vdi, base: snap }), { out: fullRaw })).status,
    200,
  );
  assert.ok(readFileSync(fullRaw).equals(readFileSync(now)));
  assert.deepEqual(await exportsLeft(m), []);
});

test('import vhd, qcow2, raw and tar into new and existing VDIs', { timeout: 300_000 }, async (t) => {
  const { m, sr, q, dir } = await setup(t);
  const src = join(dir, 'src.raw');
  writeFileSync(src, Buffer.alloc(0));
  await runChecked('truncate', ['-s', String(SIZE), src]);
  await fillKnown(src, 'raw');
  const vpc = join(dir, 'src.vhd');
  const qc = join(dir, 'src.qcow2');
  await runChecked('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', src, vpc]);
  await runChecked('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', src, qc]);
  const vdisBefore = (await m.call<string[]>('VDI.get_all')).length;

  // Into a new VDI of the SR (by sr_id): the task's result is the new VDI.
  for (const [file, format] of [
    [vpc, 'vhd'],
    [qc, 'qcow2'],
    [src, 'raw'],
  ] as const) {
    const o = await withTask(m, (tq) =>
      request(m, 'PUT', `${q('/import_raw_vdi', { sr_id: sr, format })}&${tq}`, { file }),
    );
    assert.equal(o.status, 'success', `${format}: ${o.error}`);
    const made = o.result.replace(/<\/?value>/g, '');
    assert.equal(await m.call('VDI.get_name_label', made), 'Imported VDI');
    assert.ok(Number(await m.call('VDI.get_virtual_size', made)) >= SIZE);
    await compare(await imageOf(m, made), 'qcow2', src, 'raw');
  }
  assert.equal((await m.call<string[]>('VDI.get_all')).length, vdisBefore + 3);

  // Into an existing VDI holding other data: what the image does not cover reads as zeros.
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
  const img = await imageOf(m, vdi);
  for (const [file, format] of [
    [qc, 'qcow2'],
    [vpc, 'vhd'],
  ] as const) {
    await write(img, 'qcow2', 0xee, 30 * MiB, 4 * MiB); // not in the image
    const o = await withTask(m, (tq) =>
      request(m, 'PUT', `${q('/import_raw_vdi', { vdi, format })}&${tq}`, { file }),
    );
    assert.equal(o.status, 'success', String(o.error));
    assert.equal(o.result, `<value>${vdi}</value>`);
    await compare(img, 'qcow2', src, 'raw');
  }

  // tar: what /export_raw_vdi?format=tar wrote, read by the XVA disk reader.
  const tar = join(dir, 'v.tar');
  assert.equal(
    (await request(m, 'GET', q('/export_raw_vdi', { vdi, format: 'tar' }), { out: tar })).status,
    200,
  );
  const other = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
  await write(await imageOf(m, other), 'qcow2', 0xee, 50 * MiB, MiB);
  const ot = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { vdi: other, format: 'tar' })}&${tq}`, { file: tar }),
  );
  assert.equal(ot.status, 'success', String(ot.error));
  await compare(await imageOf(m, other), 'qcow2', src, 'raw');

  // xapi's chunked raw upload: {offset u64 LE, length u32 LE} + data, ended by {0, 0}.
  const chunk = (off: number, data: Buffer) => {
    const h = Buffer.alloc(12);
    h.writeBigUInt64LE(BigInt(off));
    h.writeUInt32LE(data.length, 8);
    return Buffer.concat([h, data]);
  };
  const third = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
  const body = Buffer.concat([chunk(MiB, Buffer.alloc(MiB, 0x42)), chunk(0, Buffer.alloc(0))]);
  const oc = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { vdi: third, chunked: 'true' })}&${tq}`, { body }),
  );
  assert.equal(oc.status, 'success', String(oc.error));
  const thirdRaw = join(dir, 'third.raw');
  await toRaw(await imageOf(m, third), thirdRaw, 'qcow2');
  const got = readFileSync(thirdRaw);
  assert.ok(got.subarray(MiB, 2 * MiB).equals(Buffer.alloc(MiB, 0x42)));
  assert.equal(
    got.subarray(0, MiB).some((b) => b !== 0),
    false,
  );
  assert.deepEqual(await exportsLeft(m), []);
});

/** A copy of a dynamic VHD whose footers (copy at 0, footer at the end) claim `size` bytes. */
function lyingVhd(from: string, to: string, size: number) {
  const b = readFileSync(from);
  for (const at of [0, b.length - 512]) {
    const f = b.subarray(at, at + 512);
    f.writeBigUInt64BE(BigInt(size), 40);
    f.writeBigUInt64BE(BigInt(size), 48);
    f.writeUInt32BE(0, 64);
    let sum = 0;
    for (const x of f) sum += x;
    f.writeUInt32BE(~sum >>> 0, 64);
  }
  writeFileSync(to, b);
}

test('bad input: errors as xapi, and nothing left behind', { timeout: 300_000 }, async (t) => {
  const { m, sr, q, dir } = await setup(t);
  const src = join(dir, 'src.raw');
  writeFileSync(src, Buffer.alloc(0));
  await runChecked('truncate', ['-s', String(SIZE), src]);
  await fillKnown(src, 'raw');
  const vpc = join(dir, 'src.vhd');
  await runChecked('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', src, vpc]);
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
  const small = await m.call<string>('VDI.create', vdiRec(sr, 16 * MiB));
  const vdis = async () => (await m.call<string[]>('VDI.get_all')).sort();
  const before = await vdis();

  // Unknown format: 404, the task failed with INTERNAL_ERROR as xapi.
  const u = await withTask(m, (tq) =>
    request(m, 'GET', `${q('/export_raw_vdi', { vdi, format: 'vmdk' })}&${tq}`),
  );
  assert.equal(u.reply.status, 404);
  assert.deepEqual(u.error, ['INTERNAL_ERROR', 'Unknown format vmdk']);
  const ui = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { vdi, format: 'vmdk' })}&${tq}`, { body: Buffer.alloc(512) }),
  );
  assert.equal(ui.reply.status, 404);
  // Neither vdi nor sr: 400 and VDI_MISSING; a tar into a new VDI: not enough info.
  const nv = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', {})}&${tq}`, { body: Buffer.alloc(512) }),
  );
  assert.equal(nv.reply.status, 400);
  assert.deepEqual(nv.error, ['VDI_MISSING']);
  const nt = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { sr_id: sr, format: 'tar' })}&${tq}`, {
      body: Buffer.alloc(1024),
    }),
  );
  assert.equal(nt.reply.status, 400);

  // Xen Orchestra's probe (Content-Length 0, no task): 200 and no side effect.
  const probe = await request(m, 'PUT', q('/import_raw_vdi', { sr_id: sr, format: 'vhd' }), {
    body: Buffer.alloc(0),
  });
  assert.equal(probe.status, 200);
  // HTTP chunked transfer encoding and chunked VHD are refused with 404 as xapi does.
  const te = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      new URL(q('/import_raw_vdi', { vdi, format: 'raw' }), m.httpUrl),
      { method: 'PUT' },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write(Buffer.alloc(4096));
    req.end();
  });
  assert.equal(te, 404);
  const cv = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { vdi, format: 'vhd', chunked: 'true' })}&${tq}`, {
      file: vpc,
    }),
  );
  assert.equal(cv.reply.status, 404);
  assert.deepEqual(cv.error, ['INTERNAL_ERROR', 'Cannot handle chunked VHD']);

  // Truncated VHD into a new VDI: IMPORT_ERROR_PREMATURE_EOF, the new VDI removed again.
  const cut = join(dir, 'cut.vhd');
  writeFileSync(cut, readFileSync(vpc).subarray(0, statSync(vpc).size - 600_000));
  const tr = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { sr_id: sr, format: 'vhd' })}&${tq}`, { file: cut }),
  );
  assert.equal(tr.status, 'failure');
  assert.match(tr.error[0], /^IMPORT_ERROR/);
  // A VHD whose header lies about its size: VDI_TOO_LARGE into a smaller VDI, SR_FULL for a new one.
  const lying = join(dir, 'lying.vhd');
  lyingVhd(vpc, lying, 64 * 1024 ** 4);
  const tl = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { vdi: small, format: 'vhd' })}&${tq}`, { file: vpc }),
  );
  assert.equal(tl.error[0], 'VDI_TOO_LARGE', `${tl.status} ${tl.error} ${tl.result}`);
  const lf = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { sr_id: sr, format: 'vhd' })}&${tq}`, { file: lying }),
  );
  assert.equal(lf.status, 'failure');
  assert.ok(['SR_FULL', 'VDI_TOO_LARGE', 'IMPORT_ERROR'].includes(lf.error[0]), String(lf.error));
  // Raw longer than the VDI.
  const big = join(dir, 'big.raw');
  writeFileSync(big, Buffer.alloc(0));
  await runChecked('truncate', ['-s', String(17 * MiB), big]);
  const rl = await withTask(m, (tq) =>
    request(m, 'PUT', `${q('/import_raw_vdi', { vdi: small })}&${tq}`, { file: big }),
  );
  assert.equal(rl.error[0], 'VDI_TOO_LARGE', String(rl.error));

  assert.deepEqual(await vdis(), before, 'no VDI left behind');
  assert.deepEqual(await exportsLeft(m), [], 'no NBD export left behind');
  for (const v of before) assert.deepEqual(await m.call('VDI.get_current_operations', v), {});
});

test('xe vdi-export and vdi-import move a VDI through a file', { timeout: 300_000 }, async (t) => {
  const { m, sr, dir } = await setup(t);
  const vdi = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
  const uuid = await m.call<string>('VDI.get_uuid', vdi);
  const img = await imageOf(m, vdi);
  await fillKnown(img);
  const file = join(dir, 'xe.vhd');
  const ex = await xe(m, ['vdi-export', `uuid=${uuid}`, `filename=${file}`, 'format=vhd'], { via: 'tcp' });
  assert.equal(ex.code, 0, ex.stderr);
  await compare(file, 'vpc', img, 'qcow2');
  const other = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
  const otherUuid = await m.call<string>('VDI.get_uuid', other);
  const im = await xe(m, ['vdi-import', `uuid=${otherUuid}`, `filename=${file}`, 'format=vhd'], {
    via: 'tcp',
  });
  assert.equal(im.code, 0, im.stderr);
  await compare(await imageOf(m, other), 'qcow2', img, 'qcow2');
  const bad = await xe(m, ['vdi-export', `uuid=${uuid}`, `filename=${join(dir, 'x.bin')}`, 'format=vmdk'], {
    via: 'tcp',
  });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Unknown format vmdk/);
});

test('differential export across two snapshots, with and without CBT: everything since the base', {
  timeout: 300_000,
}, async (t) => {
  const { m, sr, q, dir } = await setup(t);
  for (const cbt of [false, true]) {
    const vdi = await m.call<string>('VDI.create', vdiRec(sr, SIZE));
    if (cbt) await m.call('VDI.enable_cbt', vdi);
    await fillKnown(await imageOf(m, vdi));
    const s1 = await m.call<string>('VDI.snapshot', vdi, {});
    await write(await imageOf(m, vdi), 'qcow2', 0x21, 8 * MiB, MiB); // lands in a deeper layer after s2
    await m.call<string>('VDI.snapshot', vdi, {});
    await write(await imageOf(m, vdi), 'qcow2', 0x22, 12 * MiB, 128 * 1024);
    await write(await imageOf(m, vdi), 'qcow2', 0xab, 0, 64 * 1024); // same bytes as the base holds
    const now = join(dir, `now-${cbt}.raw`);
    await toRaw(await imageOf(m, vdi), now, 'qcow2');
    const base = join(dir, `base-${cbt}.qcow2`);
    assert.equal(
      (await request(m, 'GET', q('/export_raw_vdi', { vdi: s1, format: 'qcow2' }), { out: base })).status,
      200,
    );
    const delta = join(dir, `delta-${cbt}.qcow2`);
    assert.equal(
      (await request(m, 'GET', q('/export_raw_vdi', { vdi, base: s1, format: 'qcow2' }), { out: delta }))
        .status,
      200,
    );
    const map = JSON.parse(await runChecked('qemu-img', ['map', '--output=json', '-f', 'qcow2', delta])) as {
      start: number;
      length: number;
      data: boolean;
    }[];
    const data = map.filter((e) => e.data).map((e) => [e.start, e.length]);
    // The rewrite of unchanged bytes at 0 may be sent (it was written) but nothing else beyond the writes.
    const expected = [
      [8 * MiB, MiB],
      [12 * MiB, 128 * 1024],
    ];
    assert.deepEqual(
      data.filter(([s]) => s !== 0),
      expected,
      `cbt=${cbt}`,
    );
    await runChecked('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-b', base, '-F', 'qcow2', delta]);
    await compare(delta, 'qcow2', now, 'raw');
  }
  assert.deepEqual(await exportsLeft(m), []);
});
