// The XVA reader: archives written by Python's tarfile in xapi's layout (export_vsn 0, 1, 2;
// .xxhash and legacy .checksum members), and each hostile case of issue 14's "Bad input" list.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { compressStream } from '../../../src/shared/xva/compress.js';
import { berthOvaVersion, encodeOvaXml, type OvaObjectXml } from '../../../src/shared/xva/ova-xml.js';
import { readVdiTar, readXva } from '../../../src/shared/xva/reader.js';
import { tarHeader } from '../../../src/shared/xva/tar-header.js';
import { chunksFromStream } from '../../../src/shared/xva/sources.js';
import { xvaTarStream } from '../../../src/shared/xva/writer.js';
import { collect, inPieces, knownDisks, MiB, py, rebuild, run, tempDir, xenError } from './helpers.js';

const s = (v: string) => `<value>${v}</value>`;
const struct = (m: Record<string, string>) =>
  `<value><struct>${Object.entries(m)
    .map(([k, v]) => `<member><name>${k}</name>${v}</member>`)
    .join('')}</struct></value>`;

/** An ova.xml whose VBDs say which VDIs carry data (a CD on an ISO SR does not). */
function ovaFor(vsn: number, sizes: Record<string, number>): string {
  const objs: OvaObjectXml[] = [
    { cls: 'SR', id: 'Ref:50', snapshotXml: struct({ content_type: s('user') }) },
    { cls: 'SR', id: 'Ref:51', snapshotXml: struct({ content_type: s('iso') }) },
    {
      cls: 'VDI',
      id: 'Ref:60',
      snapshotXml: struct({ SR: s('Ref:51'), virtual_size: s('1000'), type: s('user') }),
    },
    { cls: 'VBD', id: 'Ref:70', snapshotXml: struct({ VDI: s('Ref:60'), type: s('CD') }) },
  ];
  let n = 80;
  for (const [ref, size] of Object.entries(sizes)) {
    objs.push({
      cls: 'VDI',
      id: ref,
      snapshotXml: struct({ SR: s('Ref:50'), virtual_size: s(String(size)) }),
    });
    objs.push({ cls: 'VBD', id: `Ref:${n++}`, snapshotXml: struct({ VDI: s(ref), type: s('Disk') }) });
  }
  return encodeOvaXml({ ...berthOvaVersion(), export_vsn: vsn }, objs);
}

async function pyBuild(
  dir: string,
  disks: Record<string, Buffer>,
  vsn: number,
  checksum: string,
  format: string,
) {
  const sizes = Object.fromEntries(Object.entries(disks).map(([k, v]) => [k, v.length]));
  await writeFile(join(dir, 'ova.xml'), ovaFor(vsn, sizes));
  const spec = {
    format,
    export_vsn: vsn,
    checksum,
    ova_xml: join(dir, 'ova.xml'),
    disks: await Promise.all(
      Object.entries(disks).map(async ([ref, data], i) => {
        const file = join(dir, `disk${i}`);
        await writeFile(file, data);
        return { ref, file };
      }),
    ),
  };
  await writeFile(join(dir, 'spec.json'), JSON.stringify(spec));
  await py('build', join(dir, 'spec.json'), join(dir, 'py.xva'));
  return readFile(join(dir, 'py.xva'));
}

for (const [vsn, checksum, format] of [
  [2, 'xxhash', 'pax'],
  [1, 'sha1', 'gnu'],
  [0, 'sha1', 'ustar'],
] as const) {
  test(`reads a ${format} tar Python wrote in xapi's layout: export_vsn ${vsn}, ${checksum}`, async (t) => {
    const dir = await tempDir(t);
    const d = knownDisks();
    const xva = await pyBuild(dir, d, vsn, checksum, format);
    const disks: Record<string, Buffer> = {};
    const res = await readXva(inPieces(xva, 50_000), {
      // default disk list from ova.xml: the ISO SR's CD is not streamed
      metadata: ({ header }) => {
        assert.equal(header.version.export_vsn, vsn);
        return undefined;
      },
      chunk: ({ ref, offset, data }) => {
        disks[ref] ??= Buffer.alloc(d[ref].length);
        data.copy(disks[ref], offset);
      },
    });
    assert.deepEqual(res.checksumFailures, []);
    for (const ref of Object.keys(d)) assert.ok(disks[ref]?.equals(d[ref]), ref);
    // Ref:10 is all zeros: only its first and last chunks were written (and delivered)
    assert.equal(Object.keys(disks).length, 3);
  });
}

test('reuseBuffers: chunks read into recycled buffers; a held chunk stays intact until released', async (t) => {
  const dir = await tempDir(t);
  const d = knownDisks();
  const xva = await pyBuild(dir, d, 2, 'xxhash', 'pax');
  const disks: Record<string, Buffer> = {};
  const seen = new Set<ArrayBufferLike>();
  let delivered = 0;
  const held: { ref: string; offset: number; data: Buffer; copy: Buffer; release: () => void }[] = [];
  await readXva(
    inPieces(xva, 50_000),
    {
      chunk: ({ ref, offset, data, hold }) => {
        assert.ok(hold, 'hold() offered');
        delivered++;
        seen.add(data.buffer);
        disks[ref] ??= Buffer.alloc(d[ref].length);
        data.copy(disks[ref], offset);
        // Keep every other chunk until the end, as a writer with requests in flight does.
        if (delivered % 2 === 0) held.push({ ref, offset, data, copy: Buffer.from(data), release: hold() });
      },
    },
    { reuseBuffers: true },
  );
  for (const ref of Object.keys(d)) assert.ok(disks[ref]?.equals(d[ref]), ref);
  for (const h of held) assert.ok(h.data.equals(h.copy), `held chunk ${h.ref}@${h.offset} was overwritten`);
  for (const h of held) h.release();
  // Released chunks went back to the pool: fewer buffers than chunks (one per held chunk + one).
  assert.ok(delivered >= 4, `only ${delivered} chunks`);
  assert.equal(seen.size, held.length + 1);
});

/** A tar Python writes with exactly the listed members (ova.xml for a 2 MiB disk Ref:1 first). */
async function pyRaw(dir: string, members: object[], format = 'ustar'): Promise<Buffer> {
  await writeFile(join(dir, 'spec.json'), JSON.stringify({ format, members }));
  await py('raw', join(dir, 'spec.json'), join(dir, 'raw.tar'));
  return readFile(join(dir, 'raw.tar'));
}

async function hostile(t: TestContext) {
  const dir = await tempDir(t);
  const chunk = join(dir, 'chunk');
  await writeFile(chunk, randomBytes(MiB));
  const ova = { name: 'ova.xml', text: ovaFor(2, { 'Ref:1': 2 * MiB }) };
  const data = (name: string) => [
    { name, file: chunk },
    { name: `${name}.xxhash`, xxhash_of: chunk },
  ];
  const read = (xva: Buffer | AsyncIterable<Uint8Array>, opts = {}, size = 2 * MiB) => {
    const rb = rebuild({ 'Ref:1': size });
    return readXva(Buffer.isBuffer(xva) ? inPieces(xva) : xva, rb.consumer, opts).then((r) => ({
      ...r,
      delivered: rb.delivered(),
    }));
  };
  return { dir, chunk, ova, data, read };
}

test('a well-formed hostile-test baseline is accepted', async (t) => {
  const h = await hostile(t);
  const r = await h.read(
    await pyRaw(h.dir, [h.ova, ...h.data('Ref:1/00000000'), ...h.data('Ref:1/00000001')]),
  );
  assert.equal(r.delivered, 2 * MiB);
});

test('truncated archives: IMPORT_ERROR_PREMATURE_EOF (plain, at a member boundary, gzip, zstd)', async () => {
  const d = knownDisks();
  const sources = () =>
    Object.entries(d).map(([ref, b]) => ({
      ref,
      virtualSize: b.length,
      chunks: chunksFromStream(inPieces(b), b.length),
    }));
  const xva = await collect(xvaTarStream(ovaFor(2, {}), sources(), { keepAliveMs: 0 }));
  const sizes = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.length]));
  const read = (b: Buffer) => readXva(inPieces(b), rebuild(sizes).consumer);
  await read(xva); // whole: fine
  await assert.rejects(read(xva.subarray(0, 3 * MiB)), xenError('IMPORT_ERROR_PREMATURE_EOF'));
  // cut right after Ref:1/00000000.xxhash: header 512 + ova.xml, 512 + 1 MiB, 1024
  const ovaLen = 512 + Math.ceil(Buffer.byteLength(ovaFor(2, {})) / 512) * 512;
  await assert.rejects(
    read(xva.subarray(0, ovaLen + 512 + MiB + 1024)),
    xenError('IMPORT_ERROR_PREMATURE_EOF'),
  );
  for (const kind of ['gzip', 'zstd'] as const) {
    const packed = await collect(
      compressStream(xvaTarStream(ovaFor(2, {}), sources(), { keepAliveMs: 0 }), kind),
    );
    await assert.rejects(
      read(packed.subarray(0, Math.floor(packed.length * 0.6))),
      xenError('IMPORT_ERROR_PREMATURE_EOF'),
      kind,
    );
  }
  await assert.rejects(read(Buffer.alloc(0)), xenError('IMPORT_ERROR_PREMATURE_EOF'));
});

test('wrong checksum: IMPORT_ERROR_SOME_CHECKSUMS_FAILED, recorded instead with force', async (t) => {
  const h = await hostile(t);
  const xva = await pyRaw(h.dir, [
    h.ova,
    { name: 'Ref:1/00000000', file: h.chunk },
    { name: 'Ref:1/00000000.xxhash', text: '0123456789ABCDEF' },
    ...h.data('Ref:1/00000001'),
  ]);
  await assert.rejects(h.read(xva), xenError('IMPORT_ERROR_SOME_CHECKSUMS_FAILED'));
  const forced = await h.read(xva, { force: true });
  assert.deepEqual(forced.checksumFailures, ['Ref:1/00000000']);
  // Lower-case hex is not what xapi writes, and xapi compares the strings exactly.
  const hex = xxhsumOf(h.chunk);
  const xva2 = await pyRaw(h.dir, [
    h.ova,
    { name: 'Ref:1/00000000', file: h.chunk },
    { name: 'Ref:1/00000000.xxhash', text: await hex },
    ...h.data('Ref:1/00000001'),
  ]);
  await assert.rejects(h.read(xva2), xenError('IMPORT_ERROR_SOME_CHECKSUMS_FAILED'));
});

/** xxhsum's XXH64 of a file: lower-case hex. */
async function xxhsumOf(file: string): Promise<string> {
  const { stdout } = await run('xxhsum', ['-H1', file]);
  return stdout.split(/\s+/)[0];
}

test('missing checksum member: IMPORT_ERROR naming what was found', async (t) => {
  const h = await hostile(t);
  const xva = await pyRaw(h.dir, [
    h.ova,
    { name: 'Ref:1/00000000', file: h.chunk },
    ...h.data('Ref:1/00000001'),
  ]);
  await assert.rejects(
    h.read(xva),
    xenError('IMPORT_ERROR', /Found unsupported checksum file: Ref:1\/00000001$/),
  );
});

test('ova.xml not first: IMPORT_ERROR_UNEXPECTED_FILE [ova.xml; found]', async (t) => {
  const h = await hostile(t);
  const xva = await pyRaw(h.dir, [...h.data('Ref:1/00000000'), h.ova]);
  await assert.rejects(h.read(xva), (e) => {
    xenError('IMPORT_ERROR_UNEXPECTED_FILE')(e);
    assert.deepEqual((e as { params: string[] }).params, ['ova.xml', 'Ref:1/00000000']);
    return true;
  });
});

test('members out of order: IMPORT_ERROR', async (t) => {
  const h = await hostile(t);
  const xva = await pyRaw(h.dir, [
    h.ova,
    ...h.data('Ref:1/00000000'),
    ...h.data('Ref:1/00000002'),
    ...h.data('Ref:1/00000001'),
  ]);
  await assert.rejects(
    h.read(xva, {}, 4 * MiB),
    xenError('IMPORT_ERROR', /Invalid XVA file: chunk Ref:1\/00000001 out of order/),
  );
});

test('names with .. or an absolute path: IMPORT_ERROR, nothing delivered', async (t) => {
  const h = await hostile(t);
  for (const name of ['Ref:1/../../etc/passwd', '/etc/passwd', '../Ref:1/00000000']) {
    const xva = await pyRaw(h.dir, [h.ova, ...h.data(name)], 'gnu');
    await assert.rejects(h.read(xva), xenError('IMPORT_ERROR', /unsafe member name/), name);
  }
});

test('a chunk larger than 1 MiB: IMPORT_ERROR before its data is read', async (t) => {
  const h = await hostile(t);
  const xva = await pyRaw(h.dir, [h.ova, { name: 'Ref:1/00000000', zeros: MiB + 1 }]);
  await assert.rejects(h.read(xva), xenError('IMPORT_ERROR', /larger than 1 MiB/));
  // A header claiming 7 GiB (the body never comes): refused from the header alone.
  const ova = Buffer.from(h.ova.text);
  const crafted = Buffer.concat([
    tarHeader('ova.xml', ova.length),
    ova,
    Buffer.alloc(512 - (ova.length % 512)),
    tarHeader('Ref:1/00000000', 7 * 1024 * MiB),
  ]);
  await assert.rejects(h.read(crafted), xenError('IMPORT_ERROR', /larger than 1 MiB/));
});

test('decompression bomb: a disk never grows past its virtual size, the rest is not read', async (t) => {
  const h = await hostile(t);
  // A chunk far past the 2 MiB disk, in a zstd stream.
  const far = await pyRaw(h.dir, [h.ova, ...h.data('Ref:1/00000000'), ...h.data('Ref:1/00009999')]);
  const packed = await collect(compressStream(inPieces(far), 'zstd'));
  await assert.rejects(h.read(packed), xenError('IMPORT_ERROR', /beyond the VDI's virtual size/));
  // A valid disk followed by up to 64 GiB of garbage, compressed on the fly: the reader must stop
  // once the disk is complete (else this test runs for many minutes and times out).
  const ok = await pyRaw(h.dir, [h.ova, ...h.data('Ref:1/00000000'), ...h.data('Ref:1/00000001')]);
  let produced = 0;
  async function* bomb() {
    yield ok.subarray(0, ok.length - 1024); // without the end blocks
    const junk = Buffer.alloc(MiB, 0x41);
    for (let i = 0; i < 64 * 1024; i++) {
      produced += MiB;
      yield junk;
    }
  }
  const r = await h.read(compressStream(bomb(), 'gzip'));
  assert.equal(r.delivered, 2 * MiB);
  assert.ok(produced < 512 * MiB, `the garbage was read on: ${produced} bytes`);
});

test('legacy directory format: refused by name (tarred dir, bare ova.xml, <appliance> ova.xml)', async (t) => {
  const h = await hostile(t);
  const appliance =
    '<?xml version="1.0" ?>\n<appliance version="0.1"><vdi name="vdi_xvda" size="4294967296" ' +
    'source="file://xvda" type="dir-gzipped-chunks" variety="system" /><vm name="vm">' +
    '<label>old</label><vbd device="xvda" function="root" mode="w" vdi="vdi_xvda" /></vm></appliance>';
  const cases = [
    await pyRaw(h.dir, [{ name: 'ova.xml', text: appliance }]),
    await pyRaw(h.dir, [
      { name: 'export/ova.xml', text: appliance },
      { name: 'export/xvda/chunk-000000000.gz', zeros: 10 },
    ]),
    Buffer.from(appliance),
  ];
  for (const xva of cases) await assert.rejects(h.read(xva), xenError('IMPORT_ERROR', /Legacy XVA format/));
});

test('not an archive at all, or an unparseable ova.xml: IMPORT_ERROR, no crash', async (t) => {
  const h = await hostile(t);
  await assert.rejects(h.read(randomBytes(4096)), xenError('IMPORT_ERROR'));
  await assert.rejects(
    h.read(await pyRaw(h.dir, [{ name: 'ova.xml', text: '<value><struct>' }])),
    xenError('IMPORT_ERROR'),
  );
});

test('abort: the read stops with the abort reason and the zstd child is gone', async (t) => {
  const h = await hostile(t);
  const xva = await pyRaw(h.dir, [h.ova, ...h.data('Ref:1/00000000'), ...h.data('Ref:1/00000001')]);
  const packed = await collect(compressStream(inPieces(xva), 'zstd'));
  const ac = new AbortController();
  const rb = rebuild({ 'Ref:1': 2 * MiB });
  const p = readXva(
    inPieces(packed, 1000),
    {
      ...rb.consumer,
      chunk: async () => {
        ac.abort(new Error('cancelled by test'));
      },
    },
    { signal: ac.signal },
  );
  await assert.rejects(p, /cancelled by test|abort/i);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await zstdChildren(), []);
});

/** zstd processes whose parent is this test process. */
async function zstdChildren(): Promise<number[]> {
  const { readdir } = await import('node:fs/promises');
  const out: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = await readFile(`/proc/${p}/stat`, 'latin1');
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (m && m[1] === 'zstd' && Number(m[2]) === process.pid) out.push(Number(p));
    } catch {}
  }
  return out;
}

test('single-VDI tar (import_raw_vdi format=tar) round trip', async () => {
  const disk = knownDisks()['Ref:1'];
  const tarBytes = await collect(
    xvaTarStream(null, [
      { ref: 'vdi', virtualSize: disk.length, chunks: chunksFromStream(inPieces(disk), disk.length) },
    ]),
  );
  const out = Buffer.alloc(disk.length);
  await readVdiTar(
    inPieces(tarBytes),
    { virtualSize: disk.length },
    { chunk: (c) => void c.data.copy(out, c.offset) },
  );
  assert.ok(out.equals(disk));
});
