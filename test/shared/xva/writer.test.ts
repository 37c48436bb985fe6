// The XVA writer checked by tools nobody here wrote: Python's tarfile + xxhash, xxhsum, GNU tar,
// and the gzip / zstd CLIs reading what Berth compressed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { compressStream, type XvaCompression } from '../../../src/shared/xva/compress.js';
import { berthOvaVersion, encodeOvaXml } from '../../../src/shared/xva/ova-xml.js';
import { readXva } from '../../../src/shared/xva/reader.js';
import { chunksFromReader, chunksFromStream } from '../../../src/shared/xva/sources.js';
import { type XvaDiskSource, xvaTarStream } from '../../../src/shared/xva/writer.js';
import { collect, inPieces, KNOWN_MEMBERS, knownDisks, MiB, py, rebuild, run, tempDir } from './helpers.js';

const MTIME = 1_700_000_000;
const OVA = encodeOvaXml(berthOvaVersion(new Date(MTIME * 1000)), []);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function sources(d: Record<string, Buffer>): XvaDiskSource[] {
  const a = d['Ref:1'];
  return [
    {
      ref: 'Ref:1',
      virtualSize: a.length,
      // Extents as NBD block status would give them (chunk 1 is listed although it holds zeros).
      chunks: chunksFromReader(async (off, len) => a.subarray(off, off + len), a.length, {
        extents: [
          { offset: 0, length: 2 * MiB },
          { offset: 2 * MiB, length: MiB },
          { offset: 4 * MiB + 300_000, length: 1000 },
        ],
      }),
    },
    {
      ref: 'Ref:2',
      virtualSize: d['Ref:2'].length,
      chunks: chunksFromStream(inPieces(d['Ref:2'], 7777), d['Ref:2'].length),
    },
    {
      ref: 'Ref:10',
      virtualSize: d['Ref:10'].length,
      chunks: chunksFromStream(inPieces(d['Ref:10'], 100_000), d['Ref:10'].length),
    },
  ];
}

const writeXva = (d: Record<string, Buffer>, compression: XvaCompression = 'none') =>
  collect(compressStream(xvaTarStream(OVA, sources(d), { mtime: MTIME, keepAliveMs: 0 }), compression));

test('Python tarfile + xxhash: xapi member order, sizes, header fields, every checksum, the data', async (t) => {
  const dir = await tempDir(t);
  const d = knownDisks();
  const file = join(dir, 'x.xva');
  await writeFile(file, await writeXva(d));
  const r = JSON.parse(await py('check', file));
  assert.deepEqual(
    r.members.map((m: { name: string }) => m.name),
    KNOWN_MEMBERS,
  );
  assert.equal(r.checksums_ok, true, `bad: ${r.bad}`);
  for (const m of r.members) {
    // ocaml-tar's defaults at its V7 level: mode 0400, root ids, no ustar magic, regular file.
    assert.equal(m.mode, 0o400);
    assert.equal(m.uid, 0);
    assert.equal(m.gid, 0);
    assert.equal(m.magic, '\0\0\0\0\0\0');
    assert.equal(m.type, '\0');
    assert.equal(m.mtime, m.name === 'ova.xml' ? MTIME : 0);
  }
  const size = (n: string) => r.members.find((m: { name: string }) => m.name === n).size;
  assert.equal(size('Ref:1/00000000'), MiB);
  assert.equal(size('Ref:1/00000005'), 12345);
  assert.equal(size('Ref:2/00000000'), 512 * 1024);
  assert.equal(size('Ref:1/00000000.xxhash'), 16);
  for (const ref of Object.keys(d)) assert.equal(r.disks[ref].sha256, sha256(d[ref]), ref);
});

test('xxhsum and GNU tar agree with every .xxhash member', async (t) => {
  const dir = await tempDir(t);
  const d = knownDisks();
  const file = join(dir, 'x.xva');
  await writeFile(file, await writeXva(d));
  const out = join(dir, 'out');
  await run('mkdir', [out]);
  await run('tar', ['-xf', file, '-C', out]);
  let checked = 0;
  for (const ref of Object.keys(d))
    for (const f of (await readdir(join(out, ref))).filter((n) => !n.endsWith('.xxhash'))) {
      const { stdout } = await run('xxhsum', ['-H1', join(out, ref, f)]);
      const stored = (await readFile(join(out, ref, `${f}.xxhash`), 'latin1')).trim();
      assert.equal(stored, stdout.split(/\s+/)[0].toUpperCase(), `${ref}/${f}`);
      assert.match(stored, /^[0-9A-F]{16}$/); // xapi's %016LX
      checked++;
    }
  assert.equal(checked, 7);
});

for (const kind of ['gzip', 'zstd'] as const) {
  test(`${kind}: the ${kind} CLI decompresses it to the same tar, and the reader reads it back`, async (t) => {
    const dir = await tempDir(t);
    const d = knownDisks();
    const plain = await writeXva(d);
    const packed = await writeXva(d, kind);
    assert.ok(packed.length < plain.length);
    const file = join(dir, `x.xva.${kind}`);
    await writeFile(file, packed);
    const { stdout } = await run(kind, ['-d', '-c', file], { encoding: 'buffer', maxBuffer: 64 * MiB });
    assert.ok(Buffer.compare(stdout, plain) === 0, 'CLI output differs from the uncompressed XVA');
    const sizes = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.length]));
    const rb = rebuild(sizes);
    const res = await readXva(inPieces(packed, 100_000), rb.consumer);
    assert.equal(res.compression, kind);
    for (const ref of Object.keys(d)) assert.ok(rb.disks[ref].equals(d[ref]), ref);
  });
}

test('keep-alive members after a quiet spell shift the counters and still rebuild the disk', async (t) => {
  const dir = await tempDir(t);
  const disk = Buffer.alloc(6 * MiB);
  disk.fill(7, 3 * MiB, 4 * MiB);
  let clock = 0;
  async function* slowZeros() {
    for (let off = 0; off < disk.length; off += MiB) {
      clock += 6000; // each chunk "takes" 6 s
      yield { offset: off, data: disk.subarray(off, off + MiB) };
    }
  }
  const xva = await collect(
    xvaTarStream(OVA, [{ ref: 'Ref:3', virtualSize: disk.length, chunks: slowZeros() }], {
      mtime: MTIME,
      now: () => clock,
    }),
  );
  const file = join(dir, 'k.xva');
  await writeFile(file, xva);
  const r = JSON.parse(await py('check', file));
  const names = r.members.map((m: { name: string }) => m.name).filter((n: string) => !n.endsWith('.xxhash'));
  // Every chunk but the first comes more than 5 s after the last write, so each non-first/last one
  // is preceded by a keep-alive: chunk 0; keep-alive 1, zero chunk 1 left out (as 2); keep-alive 3,
  // zero chunk 2 left out (4); keep-alive 5, chunk 3 as 6; keep-alive 7, zero chunk 4 (8) left
  // out; the last chunk as 9 (first and last chunks never get a keep-alive).
  assert.deepEqual(names, [
    'ova.xml',
    'Ref:3/00000000',
    'Ref:3/00000001',
    'Ref:3/00000003',
    'Ref:3/00000005',
    'Ref:3/00000006',
    'Ref:3/00000007',
    'Ref:3/00000009',
  ]);
  assert.equal(r.disks['Ref:3'].sha256, sha256(disk));
  const rb = rebuild({ 'Ref:3': disk.length });
  await readXva(inPieces(xva), rb.consumer);
  assert.ok(rb.disks['Ref:3'].equals(disk));
});

test('progress reaches the total virtual size', async () => {
  const d = knownDisks();
  let last = [0, 0];
  await collect(xvaTarStream(OVA, sources(d), { keepAliveMs: 0, onProgress: (a, b) => (last = [a, b]) }));
  const total = Object.values(d).reduce((s, b) => s + b.length, 0);
  assert.deepEqual(last, [total, total]);
});

test('single-VDI tar: vdi/NNNNNNNN members, no ova.xml', async (t) => {
  const dir = await tempDir(t);
  const disk = knownDisks()['Ref:1'];
  const file = join(dir, 'v.tar');
  await writeFile(
    file,
    await collect(
      xvaTarStream(null, [
        { ref: 'vdi', virtualSize: disk.length, chunks: chunksFromStream(inPieces(disk), disk.length) },
      ]),
    ),
  );
  const r = JSON.parse(await py('check', file));
  assert.equal(r.members[0].name, 'vdi/00000000');
  assert.equal(r.disks.vdi.sha256, sha256(disk));
});

test('hashing on a worker thread writes the same bytes as hashing inline', async () => {
  const d = knownDisks();
  const inline = await collect(xvaTarStream(OVA, sources(d), { mtime: MTIME, keepAliveMs: 0 }));
  const worker = await collect(
    xvaTarStream(OVA, sources(d), { mtime: MTIME, keepAliveMs: 0, hashInWorker: true }),
  );
  assert.ok(inline.equals(worker));
});

test('use_compression as xapi reads it; compression detected from magic numbers', async () => {
  const { compressionOfParam, detectCompression } = await import('../../../src/shared/xva/compress.js');
  assert.equal(compressionOfParam('true'), 'gzip');
  assert.equal(compressionOfParam('gzip'), 'gzip');
  assert.equal(compressionOfParam('zstd'), 'zstd');
  for (const v of ['false', 'xz', 'ZSTD', '', undefined])
    assert.equal(compressionOfParam(v), 'none', String(v));
  const d = knownDisks();
  assert.equal(detectCompression(await writeXva(d, 'zstd')), 'zstd');
  assert.equal(detectCompression(await writeXva(d, 'gzip')), 'gzip');
  assert.equal(detectCompression(await writeXva(d)), 'none');
});
