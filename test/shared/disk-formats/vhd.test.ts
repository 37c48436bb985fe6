// VHD writer and reader against tools nobody here wrote: qemu-img (compare, info, convert -O vpc)
// and libvhdi's vhdiinfo (parses footer, header and parent fields; skipped when absent).
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isXenApiError } from '../../../src/shared/errors.js';
import { run } from '../../../src/shared/exec.js';
import { vhdChecksum, vhdGeometry } from '../../../src/shared/disk-formats/vhd-layout.js';
import { readVhd } from '../../../src/shared/disk-formats/vhd-reader.js';
import { planVhd, writeVhd } from '../../../src/shared/disk-formats/vhd-writer.js';
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

const hasVhdiinfo = async () => (await run('vhdiinfo', ['-V']).catch(() => ({ code: 1 }))).code === 0;

async function exportVhd(
  dir: string,
  name: string,
  size: number,
  extents: { offset: number; length: number }[],
) {
  const { raw, img } = await exportRaw(dir, name, 'vhd', size, extents, (src) => writeVhd(src));
  return { raw, vhd: img, plan: planVhd({ virtualSize: size, extents }) };
}

const cases: [string, number, { offset: number; length: number }[]][] = [
  [
    'sparse',
    64 * MiB,
    [
      { offset: 0, length: 4096 },
      { offset: 5 * MiB + 3, length: 10 },
      { offset: 64 * MiB - 100, length: 100 },
    ],
  ],
  ['full random', 9 * MiB, [{ offset: 0, length: 9 * MiB }]],
  ['unaligned tail block', 5 * MiB + 3 * 512, [{ offset: 4 * MiB, length: MiB + 1536 }]],
  ['empty', 8 * MiB, []],
];

for (const [name, size, extents] of cases) {
  test(`VHD export (${name}) reads back identically in qemu-img and parses in vhdiinfo`, async (t) => {
    const dir = tempDir(t, 'berth-diskfmt-');
    const { raw, vhd, plan } = await exportVhd(dir, 'disk', size, extents);
    assert.equal((await stat(vhd)).size, plan.size, 'planned size is the written size');
    assert.equal(await virtualSizeOf(vhd, 'vpc'), size);
    const cmp = await qemuImg('compare', '-f', 'raw', '-F', 'vpc', raw, vhd);
    assert.equal(cmp.code, 0, cmp.out);
    // Only the touched blocks take space: header structures + (bitmap + 2 MiB) per block.
    const touched = new Set<number>();
    for (const e of extents)
      for (
        let b = Math.floor(e.offset / (2 * MiB));
        b <= Math.floor((e.offset + e.length - 1) / (2 * MiB));
        b++
      )
        touched.add(b);
    assert.equal(plan.blocks.length, touched.size);
    if (await hasVhdiinfo()) {
      const info = await run('vhdiinfo', [vhd]);
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stdout, /Disk type\s*: Dynamic/);
      assert.match(info.stdout, new RegExp(`Media size\\s*:.*\\(${size} bytes\\)`));
    }
  });
}

test('VHD footer: creator tap, CHS geometry as qemu-img writes it, checksums verify', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  // qemu-img create -f vpc rounds 127M up to a whole CHS geometry: 1020/15/17 = 133171200 bytes.
  const size = 133171200;
  const { vhd } = await exportVhd(dir, 'g', size, [{ offset: 0, length: 512 }]);
  const b = await readFile(vhd);
  const footer = b.subarray(0, 512);
  assert.equal(footer.toString('latin1', 0, 8), 'conectix');
  assert.deepEqual(footer.subarray(28, 32), Buffer.from('tap\0', 'latin1'));
  assert.deepEqual(footer, b.subarray(b.length - 512), 'footer copy equals trailing footer');
  assert.equal(footer.readUInt32BE(64), vhdChecksum(footer, 64));
  const header = b.subarray(512, 1536);
  assert.equal(header.toString('latin1', 0, 8), 'cxsparse');
  assert.equal(header.readUInt32BE(36), vhdChecksum(header, 36));
  const q = join(dir, 'q.vhd');
  assert.equal((await qemuImg('create', '-f', 'vpc', q, '127M')).code, 0);
  const qf = (await readFile(q)).subarray(0, 512);
  assert.equal(Number(qf.readBigUInt64BE(48)), size);
  assert.deepEqual(footer.subarray(56, 60), qf.subarray(56, 60), 'same cylinders/heads/sectors as qemu');
  // qemu verifies the footer checksum (so the passing reads above vouch for ours): one flipped bit fails.
  const flipped = Buffer.from(b);
  flipped[40] ^= 1;
  await writeFile(join(dir, 'flipped.vhd'), flipped);
  assert.match((await qemuImg('info', '-f', 'vpc', join(dir, 'flipped.vhd'))).out, /checksum/);
  // The spec's table saturates at 65535/16/255.
  assert.deepEqual(vhdGeometry(2040 * 1024 * 2048), { cylinders: 65535, heads: 16, sectors: 255 });
});

test('VHD writer refuses a disk above 2040 GiB with VDI_TOO_LARGE', () => {
  assert.throws(
    () => planVhd({ virtualSize: 2041 * 1024 * 1024 * MiB, extents: [] }, { vdi: 'OpaqueRef:x' }),
    (e: unknown) => isXenApiError(e) && e.code === 'VDI_TOO_LARGE' && e.params[0] === 'OpaqueRef:x',
  );
});

for (const subformat of ['dynamic', 'fixed'] as const) {
  test(`a VHD written by qemu-img convert -O vpc (${subformat}) imports identically`, async (t) => {
    const dir = tempDir(t, 'berth-diskfmt-');
    const raw = join(dir, 'src.raw');
    await makeRaw(raw, 20 * MiB, [
      { offset: 3 * MiB + 512, length: 5000 },
      { offset: 11 * MiB, length: 4 * MiB },
    ]);
    const vhd = join(dir, 'q.vhd');
    const c = await qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', `subformat=${subformat}`, raw, vhd);
    assert.equal(c.code, 0, c.out);
    const img = await readVhd(fileStream(vhd), { length: (await stat(vhd)).size });
    assert.equal(img.diskType, subformat);
    assert.equal(img.virtualSize, await virtualSizeOf(vhd, 'vpc'));
    const out = join(dir, 'imported.raw');
    await applyPieces(img.pieces, out, img.virtualSize);
    const cmp = await qemuImg('compare', '-f', 'vpc', '-F', 'raw', vhd, out);
    assert.equal(cmp.code, 0, cmp.out);
  });
}

test('a dynamic VHD imports without a known length, and Berth round-trips its own VHD', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const { raw, vhd } = await exportVhd(dir, 'rt', 30 * MiB, [
    { offset: MiB, length: 3 * MiB },
    { offset: 29 * MiB, length: MiB },
  ]);
  const img = await readVhd(fileStream(vhd));
  const out = join(dir, 'back.raw');
  await applyPieces(img.pieces, out, img.virtualSize);
  assert.equal((await qemuImg('compare', '-f', 'raw', '-F', 'raw', raw, out)).code, 0);
});

test('a differencing VHD (base=) carries only the changed blocks and names its parent', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const size = 16 * MiB;
  const raw = join(dir, 'cur.raw');
  await makeRaw(raw, size, [{ offset: 0, length: size }]);
  const changed = [{ offset: 5 * MiB, length: 100 }];
  const src = await fileSource(raw, size, changed);
  const parentId = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const vhd = join(dir, 'delta.vhd');
  try {
    await writeTo(writeVhd(src, { parent: { uniqueId: parentId, name: 'base-uuid.vhd' } }), vhd);
  } finally {
    await src.close();
  }
  const img = await readVhd(fileStream(vhd));
  assert.equal(img.diskType, 'differencing');
  assert.deepEqual(img.header?.parentUniqueId, parentId);
  assert.equal(img.header?.parentName, 'base-uuid.vhd');
  const pieces = [];
  for await (const p of img.pieces) pieces.push(p);
  // Block 2 (4-6 MiB) whole, with the current data.
  assert.deepEqual(
    pieces.map((p) => [p.offset, p.data.length]),
    [[4 * MiB, 2 * MiB]],
  );
  const cur = await readFile(raw);
  assert.ok(pieces[0].data.equals(cur.subarray(4 * MiB, 6 * MiB)));
  if (await hasVhdiinfo()) {
    const info = await run('vhdiinfo', [vhd]);
    assert.match(info.stdout, /Disk type\s*: Differential/);
    assert.match(info.stdout, /Parent identifier\s*: 00112233-4455-6677-8899-aabbccddeeff/);
    assert.match(info.stdout, /Parent filename\s*: base-uuid\.vhd/);
  }
});

test('a VHD whose blocks are stored out of block order imports as qemu reads it', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const { vhd } = await exportVhd(dir, 'perm', 8 * MiB, [{ offset: 0, length: 8 * MiB }]);
  // Reverse the BAT: block 0 now lives in the last stored block, and so on (as a VM that wrote its
  // disk back to front would leave it). Footers unchanged: the BAT has no checksum.
  const b = await readFile(vhd);
  const entries = [0, 1, 2, 3].map((i) => b.readUInt32BE(2048 + i * 4));
  entries.reverse().forEach((e, i) => {
    b.writeUInt32BE(e, 2048 + i * 4);
  });
  const perm = join(dir, 'reversed.vhd');
  await writeFile(perm, b);
  const img = await readVhd(fileStream(perm), { length: b.length });
  const offsets: number[] = [];
  const out = join(dir, 'imported.raw');
  await applyPieces(
    (async function* () {
      for await (const p of img.pieces) {
        offsets.push(p.offset);
        yield p;
      }
    })(),
    out,
    img.virtualSize,
  );
  assert.deepEqual(offsets, [6 * MiB, 4 * MiB, 2 * MiB, 0], 'pieces come in stream order');
  const cmp = await qemuImg('compare', '-f', 'vpc', '-F', 'raw', perm, out);
  assert.equal(cmp.code, 0, cmp.out);
});

// ---- hostile input -------------------------------------------------------------------------

/** Re-seals the footer (both copies) or header checksum after a deliberate edit. */
function reseal(b: Buffer) {
  b.writeUInt32BE(vhdChecksum(b.subarray(0, 512), 64), 64);
  b.subarray(0, 512).copy(b, b.length - 512);
  b.writeUInt32BE(vhdChecksum(b.subarray(512, 1536), 36), 512 + 36);
}

/** Imports `b`; the length defaults to b.length, `null` means unknown (no Content-Length). */
async function importBytes(b: Buffer, length: number | null = b.length) {
  const img = await readVhd(inChunks(b), { length: length ?? undefined });
  for await (const _ of img.pieces);
}

test('hostile VHDs are refused with xapi errors', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const { vhd } = await exportVhd(dir, 'h', 8 * MiB, [
    { offset: 0, length: 512 },
    { offset: 6 * MiB, length: 512 },
  ]);
  const good = await readFile(vhd);
  await importBytes(good); // the unmodified image passes
  const edit = (f: (b: Buffer) => void, seal = true) => {
    const b = Buffer.from(good);
    f(b);
    if (seal) reseal(b);
    return b;
  };
  const bat = 2048;

  await t.test('lying header: footer size larger than the BAT covers', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeBigUInt64BE(BigInt(64 * MiB), 48))),
      rejectsWith('IMPORT_ERROR', /BAT has 4 entries/),
    ),
  );
  await t.test('virtual size above 2040 GiB', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeBigUInt64BE(3n * 1024n ** 4n, 48))),
      rejectsWith('VDI_TOO_LARGE'),
    ),
  );
  await t.test('BAT entry beyond the end of the image', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeUInt32BE(0x00100000, bat + 4))),
      rejectsWith('IMPORT_ERROR', /beyond the end/),
    ),
  );
  await t.test('BAT entry inside the metadata', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeUInt32BE(2, bat + 4))),
      rejectsWith('IMPORT_ERROR', /inside the metadata/),
    ),
  );
  await t.test('overlapping blocks', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeUInt32BE(b.readUInt32BE(bat) + 1, bat + 12))),
      rejectsWith('IMPORT_ERROR', /overlap/),
    ),
  );
  await t.test('BAT entry past the virtual size in a larger BAT', () => {
    // Grow nothing: mark an entry used in a 2 MiB disk whose BAT still has 4 entries.
    const b = edit((x) => {
      x.writeBigUInt64BE(BigInt(2 * MiB), 40);
      x.writeBigUInt64BE(BigInt(2 * MiB), 48);
    });
    return assert.rejects(importBytes(b), rejectsWith('IMPORT_ERROR', /beyond the virtual size/));
  });
  await t.test('bad footer checksum', () =>
    assert.rejects(
      importBytes(edit((b) => (b[40] ^= 1), false)),
      rejectsWith('IMPORT_ERROR', /footer checksum/),
    ),
  );
  await t.test('bad header checksum', () =>
    assert.rejects(
      importBytes(edit((b) => (b[512 + 28] ^= 1), false)),
      rejectsWith('IMPORT_ERROR', /header checksum/),
    ),
  );
  await t.test('bad footer cookie', () =>
    assert.rejects(
      importBytes(
        edit((b) => b.write('conectiy', 0), false),
        null,
      ),
      rejectsWith('IMPORT_ERROR'),
    ),
  );
  await t.test('block size not a power of two', () =>
    assert.rejects(
      importBytes(edit((b) => b.writeUInt32BE(3 * MiB, 512 + 32))),
      rejectsWith('IMPORT_ERROR', /power of two/),
    ),
  );
  await t.test('trailing footer differs from the copy', () => {
    const b = Buffer.from(good);
    b[b.length - 512 + 24] ^= 1; // timestamp, then a valid checksum for the trailing footer alone
    b.writeUInt32BE(vhdChecksum(b.subarray(b.length - 512), 64), b.length - 512 + 64);
    return assert.rejects(importBytes(b), rejectsWith('IMPORT_ERROR', /differs/));
  });
  await t.test('truncated', async () => {
    await assert.rejects(
      importBytes(good.subarray(0, 3000), null),
      rejectsWith('IMPORT_ERROR_PREMATURE_EOF'),
    );
    await assert.rejects(
      importBytes(good.subarray(0, good.length - 600), null),
      rejectsWith('IMPORT_ERROR_PREMATURE_EOF'),
    );
    // With a Content-Length that the body does not reach.
    await assert.rejects(
      importBytes(good.subarray(0, good.length - 600), good.length),
      rejectsWith('IMPORT_ERROR_PREMATURE_EOF'),
    );
  });
  await t.test('not a VHD at all, without a length', () =>
    assert.rejects(importBytes(Buffer.alloc(4096, 1), null), rejectsWith('IMPORT_ERROR', /fixed VHD/)),
  );
});

test('a fixed VHD with a corrupted footer fails at the end, a truncated one early', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const raw = join(dir, 'f.raw');
  await makeRaw(raw, 3 * MiB, [{ offset: 0, length: 3 * MiB }]);
  const vhd = join(dir, 'f.vhd');
  assert.equal(
    (await qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', raw, vhd)).code,
    0,
  );
  const good = await readFile(vhd);
  await importBytes(good);
  const bad = Buffer.from(good);
  bad[bad.length - 10] ^= 1;
  await writeFile(join(dir, 'bad.vhd'), bad);
  await assert.rejects(importBytes(bad), rejectsWith('IMPORT_ERROR', /checksum/));
  await assert.rejects(
    importBytes(good.subarray(0, MiB), good.length),
    rejectsWith('IMPORT_ERROR_PREMATURE_EOF'),
  );
});
