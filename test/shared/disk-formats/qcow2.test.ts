// qcow2 writer and reader against qemu-img (check, compare, info, convert -O qcow2, rebase).
import assert from 'node:assert/strict';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { test } from 'node:test';
import { readQcow2 } from '../../../src/shared/disk-formats/qcow2-reader.js';
import { planQcow2, writeQcow2 } from '../../../src/shared/disk-formats/qcow2-writer.js';
import { tempDir } from '../../helpers/tmp.js';
import {
  applyPieces,
  exportRaw,
  inChunks,
  rejectsWith,
  fileSource,
  fileStream,
  MiB,
  makeRaw,
  qemuImg,
  virtualSizeOf,
  writeTo,
} from './helpers.js';

type Ext = { offset: number; length: number };

/** Text-like bytes that deflate well (random data is stored uncompressed by qemu-img -c). */
const compressible = (n: number) =>
  Buffer.from(
    Array.from({ length: Math.ceil(n / 32) }, (_, i) =>
      `line ${String(i).padStart(8, '0')} of a text\n`.padEnd(32, '.'),
    ).join(''),
  ).subarray(0, n);

const exportQcow2 = (dir: string, name: string, size: number, extents: Ext[], written = extents) =>
  exportRaw(dir, name, 'qcow2', size, extents, writeQcow2, written);

const GiB = 1024 * MiB;
const cases: [string, number, Ext[]][] = [
  [
    'sparse',
    64 * MiB,
    [
      { offset: 0, length: 4096 },
      { offset: 5 * MiB + 3, length: 10 },
      { offset: 64 * MiB - 100, length: 100 },
    ],
  ],
  ['full random', 9 * MiB + 512, [{ offset: 0, length: 9 * MiB + 512 }]],
  [
    'several L2 tables',
    (3 * GiB) / 2,
    [
      { offset: 10, length: 70_000 },
      { offset: 600 * MiB, length: MiB },
      { offset: (3 * GiB) / 2 - 1, length: 1 },
    ],
  ],
  ['empty', 8 * MiB, []],
];

for (const [name, size, extents] of cases) {
  test(`qcow2 export (${name}) passes qemu-img check and reads back identically`, async (t) => {
    const dir = tempDir(t, 'berth-diskfmt-');
    const { raw, img } = await exportQcow2(dir, 'disk', size, extents);
    assert.equal((await stat(img)).size, planQcow2({ virtualSize: size, extents }).fileSize);
    const check = await qemuImg('check', '-f', 'qcow2', img);
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /No errors were found/);
    assert.equal(await virtualSizeOf(img, 'qcow2'), size);
    const cmp = await qemuImg('compare', '-f', 'raw', '-F', 'qcow2', raw, img);
    assert.equal(cmp.code, 0, cmp.out);
    // Only touched clusters are allocated: qemu-img map lists exactly those as data.
    const map = await qemuImg('map', '--output=json', '-f', 'qcow2', img);
    const data = JSON.parse(map.out.slice(map.out.indexOf('[')))
      .filter((m: { data: boolean }) => m.data)
      .reduce((n: number, m: { length: number }) => n + m.length, 0);
    const clusters = new Set<number>();
    for (const e of extents)
      for (let c = Math.floor(e.offset / 65536); c <= Math.floor((e.offset + e.length - 1) / 65536); c++)
        clusters.add(c);
    const expected = [...clusters].reduce((n, c) => n + Math.min(65536, size - c * 65536), 0);
    assert.equal(data, expected);
  });
}

test('a qcow2 written by qemu-img convert -O qcow2 imports identically (L2 tables, cluster sizes, compat, -c)', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const raw = join(dir, 'src.raw');
  const size = (5 * GiB) / 2;
  await makeRaw(raw, size, [
    { offset: 512, length: 3 * MiB },
    { offset: 700 * MiB, length: 200_000 },
    { offset: 2 * GiB + 5, length: MiB },
  ]);
  // Compressible data too, so that -c really writes compressed clusters.
  const fh = await open(raw, 'r+');
  await fh.write(compressible(3 * MiB), 0, 3 * MiB, 1500 * MiB);
  await fh.close();
  for (const opts of [
    [],
    ['-o', 'cluster_size=4096'],
    ['-o', 'compat=0.10'],
    ['-c'],
    ['-c', '-o', 'cluster_size=4096'],
  ]) {
    const img = join(dir, 'q.qcow2');
    const c = await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', ...opts, raw, img);
    assert.equal(c.code, 0, c.out);
    const image = await readQcow2(fileStream(img));
    assert.equal(image.virtualSize, size);
    const out = join(dir, 'imported.raw');
    await applyPieces(image.pieces, out, image.virtualSize);
    const cmp = await qemuImg('compare', '-f', 'raw', '-F', 'raw', raw, out);
    assert.equal(cmp.code, 0, `${opts.join(' ')}: ${cmp.out}`);
  }
});

test('Berth round-trips its own qcow2', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const { raw, img } = await exportQcow2(dir, 'rt', 40 * MiB + 512, [
    { offset: 3 * MiB, length: 5 * MiB },
    { offset: 40 * MiB, length: 512 },
  ]);
  const image = await readQcow2(fileStream(img));
  const out = join(dir, 'back.raw');
  await applyPieces(image.pieces, out, image.virtualSize);
  assert.equal((await qemuImg('compare', '-f', 'raw', '-F', 'raw', raw, out)).code, 0);
});

test('a differential qcow2 (base=) holds only the changed clusters; rebased on the base it equals the disk', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const size = 32 * MiB;
  const base = join(dir, 'base.raw');
  await makeRaw(base, size, [{ offset: 0, length: size }]);
  // The current disk = base with two changed ranges; the caller hands over the changed extents.
  const cur = join(dir, 'cur.raw');
  assert.equal((await qemuImg('convert', '-f', 'raw', '-O', 'raw', base, cur)).code, 0);
  const changed = [
    { offset: 3 * MiB + 7, length: 70_000 },
    { offset: 20 * MiB, length: 1 },
  ];
  const fh = await open(cur, 'r+');
  for (const e of changed) await fh.write(Buffer.alloc(e.length, 0xab), 0, e.length, e.offset);
  await fh.close();
  const src = await fileSource(cur, size, changed);
  const delta = join(dir, 'delta.qcow2');
  try {
    await writeTo(writeQcow2(src), delta);
  } finally {
    await src.close();
  }
  assert.equal((await qemuImg('check', delta)).code, 0);
  assert.equal((await stat(delta)).size, planQcow2({ virtualSize: size, extents: changed }).fileSize);
  assert.equal((await qemuImg('rebase', '-u', '-f', 'qcow2', '-b', base, '-F', 'raw', delta)).code, 0);
  const cmp = await qemuImg('compare', '-f', 'raw', '-F', 'qcow2', cur, delta);
  assert.equal(cmp.code, 0, cmp.out);
});

// ---- hostile input -------------------------------------------------------------------------

async function importBytes(b: Buffer, max?: number) {
  const img = await readQcow2(inChunks(b), { maxVirtualSize: max, vdi: 'OpaqueRef:v' });
  for await (const _ of img.pieces);
}

test('hostile qcow2 images are refused with xapi errors', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const { img } = await exportQcow2(dir, 'h', 16 * MiB, [
    { offset: 0, length: 100 },
    { offset: 9 * MiB, length: 100 },
  ]);
  const good = await readFile(img);
  await importBytes(good);
  const p = planQcow2({
    virtualSize: 16 * MiB,
    extents: [
      { offset: 0, length: 100 },
      { offset: 9 * MiB, length: 100 },
    ],
  });
  const edit = (f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  await t.test('bad magic', () =>
    assert.rejects(importBytes(edit((b) => (b[0] = 0))), rejectsWith('IMPORT_ERROR', /magic/)),
  );
  await t.test('too large', () =>
    assert.rejects(
      importBytes(good, 8 * MiB),
      (e: unknown) =>
        rejectsWith('VDI_TOO_LARGE')(e) && (e as { params: string[] }).params[0] === 'OpaqueRef:v',
    ),
  );
  await t.test('lying header: L1 too small for the size', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeBigUInt64BE(BigInt(GiB), 24))),
      rejectsWith('IMPORT_ERROR', /L1 table of 1 entries/),
    ),
  );
  await t.test('backing file', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeBigUInt64BE(512n, 8))),
      rejectsWith('IMPORT_ERROR', /backing file/),
    ),
  );
  await t.test('unknown incompatible feature', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeBigUInt64BE(1n << 40n, 72))),
      rejectsWith('IMPORT_ERROR', /incompatible/),
    ),
  );
  await t.test('L2 entry pointing into the metadata (the L1 table)', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeBigUInt64BE((1n << 63n) | BigInt(p.l1Offset), p.l2Offset))),
      rejectsWith('IMPORT_ERROR', /overlaps qcow2 metadata/),
    ),
  );
  await t.test('a cluster further back than the look-behind window', async () => {
    // Point the first L2 entry at a cluster before its L2 table (the refcount block, which the
    // reader does not track): readable within the window, refused beyond it.
    const b = edit((x) => x.writeBigUInt64BE((1n << 63n) | BigInt(p.refcountBlocksOffset), p.l2Offset));
    await importBytes(b);
    const img = await readQcow2(inChunks(b), { lookBehind: 1024 });
    await assert.rejects(
      (async () => {
        for await (const _ of img.pieces);
      })(),
      rejectsWith('IMPORT_ERROR', /not laid out for streaming/),
    );
  });
  await t.test('L2 entry beyond the virtual size', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeBigUInt64BE(BigInt(p.dataOffset) | (1n << 63n), p.l2Offset + 8 * 1000))),
      rejectsWith('IMPORT_ERROR', /beyond the virtual size/),
    ),
  );
  await t.test('truncated', () =>
    assert.rejects(
      importBytes(good.subarray(0, good.length - 70_000)),
      rejectsWith('IMPORT_ERROR_PREMATURE_EOF'),
    ),
  );
  await t.test('zstd-compressed clusters', async () => {
    const raw = join(dir, 'text.raw');
    await writeFile(raw, compressible(MiB));
    const c = join(dir, 'z.qcow2');
    const r = await qemuImg(
      'convert',
      '-c',
      '-f',
      'raw',
      '-O',
      'qcow2',
      '-o',
      'compression_type=zstd',
      raw,
      c,
    );
    assert.equal(r.code, 0, r.out);
    await assert.rejects(importBytes(await readFile(c)), rejectsWith('IMPORT_ERROR', /zstd/));
  });
  await t.test('a compressed cluster that inflates beyond one cluster (bomb)', async () => {
    const raw = join(dir, 'text.raw');
    await writeFile(raw, compressible(MiB));
    const c = join(dir, 'c.qcow2');
    assert.equal((await qemuImg('convert', '-c', '-f', 'raw', '-O', 'qcow2', raw, c)).code, 0);
    const b = await readFile(c);
    await importBytes(b); // intact, it imports
    // First L2 entry of the first L2 table: a compressed descriptor (cluster_bits 16: offset in bits 0-53).
    const l2 = Number(b.readBigUInt64BE(Number(b.readBigUInt64BE(40))) & 0x00fffffffffffe00n);
    const e = b.readBigUInt64BE(l2);
    assert.ok(e & (1n << 62n), 'cluster 0 is compressed');
    const host = Number(e & ((1n << 54n) - 1n));
    const span = (Number((e >> 54n) & 0xffn) + 1) * 512 - (host % 512);
    const bomb = deflateRawSync(Buffer.alloc(16 * 65536));
    assert.ok(bomb.length <= span, `bomb of ${bomb.length} bytes fits the ${span}-byte span`);
    bomb.copy(b, host);
    await assert.rejects(importBytes(b), rejectsWith('IMPORT_ERROR', /does not inflate/));
  });
});
