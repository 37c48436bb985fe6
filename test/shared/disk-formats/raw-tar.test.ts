// format=raw and format=tar exports, checked with tools nobody here wrote: Python's tarfile and
// the xxhash package (Debian python3-xxhash, hence /usr/bin/python3), and cmp.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import {
  contentType,
  exportLength,
  parseDiskFormat,
  readDisk,
  writeDisk,
} from '../../../src/shared/disk-formats/index.js';
import { run } from '../../../src/shared/exec.js';
import { isXenApiError } from '../../../src/shared/errors.js';
import { tempDir } from '../../helpers/tmp.js';
import { applyPieces, fileSource, fileStream, MiB, makeRaw, writeTo } from './helpers.js';

const PY_CHECK = `
import sys, tarfile, xxhash
tar, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = []
with tarfile.open(tar, 'r:') as t, open(out, 'wb') as o:
    o.truncate(size)
    members = t.getmembers()
    for m in members:
        names.append(m.name)
    data = {}
    for m in members:
        data[m.name] = t.extractfile(m).read()
    for n in names:
        if n.endswith('.xxhash'):
            chunk = data[n[:-len('.xxhash')]]
            assert data[n].decode() == '%016X' % xxhash.xxh64_intdigest(chunk), n
        else:
            o.seek(int(n.split('/')[1]) * 1048576)
            o.write(data[n])
print(' '.join(names))
`;

test('format=tar: vdi/%08d chunks with XXH64 members, zero chunks omitted except first and last', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const size = 5 * MiB + 1024;
  const raw = join(dir, 'd.raw');
  await makeRaw(raw, size, [{ offset: 2 * MiB + 10, length: 1000 }]);
  // Chunk 3 is listed as allocated but holds zeros: omitted like xapi's zero check does.
  const src = await fileSource(raw, size, [{ offset: 2 * MiB, length: 2 * MiB }]);
  const tar = join(dir, 'd.tar');
  try {
    await writeTo(writeDisk('tar', src), tar);
  } finally {
    await src.close();
  }
  const out = join(dir, 'back.raw');
  const py = await run('/usr/bin/python3', ['-c', PY_CHECK, tar, out, String(size)]);
  assert.equal(py.code, 0, py.stderr);
  assert.equal(
    py.stdout.trim(),
    'vdi/00000000 vdi/00000000.xxhash vdi/00000002 vdi/00000002.xxhash vdi/00000005 vdi/00000005.xxhash',
  );
  assert.ok((await readFile(out)).equals(await readFile(raw)));
  assert.equal(contentType('tar'), 'application/x-tar');
});

test('format=raw: exactly the disk, holes as zeros; import skips zeros and refuses a wrong length', async (t) => {
  const dir = tempDir(t, 'berth-diskfmt-');
  const size = 7 * MiB + 512;
  const extents = [
    { offset: 100, length: 3 * MiB },
    { offset: 6 * MiB, length: 10 },
  ];
  const raw = join(dir, 'd.raw');
  await makeRaw(raw, size, extents);
  const src = await fileSource(raw, size, extents);
  const out = join(dir, 'out.raw');
  try {
    await writeTo(writeDisk('raw', src), out);
  } finally {
    await src.close();
  }
  assert.equal(exportLength('raw', src), size);
  assert.equal((await run('cmp', [raw, out])).code, 0);
  const img = await readDisk('raw', fileStream(out), { length: size });
  const back = join(dir, 'back.raw');
  const pieces = await applyPieces(img.pieces, back, size);
  assert.equal(pieces, 5, 'chunks 0-3 and 6 hold data, 4-5 are zeros');
  assert.equal((await run('cmp', [raw, back])).code, 0);
  const short = await readDisk('raw', fileStream(out), { length: size + 1 });
  await assert.rejects(
    applyPieces(short.pieces, back, size + 1),
    (e) => isXenApiError(e) && e.code === 'IMPORT_ERROR_PREMATURE_EOF',
  );
  const long = await readDisk('raw', fileStream(out), { length: size - 512 });
  await assert.rejects(
    applyPieces(long.pieces, back, size),
    (e) => isXenApiError(e) && e.code === 'IMPORT_ERROR',
  );
  await assert.rejects(
    readDisk('raw', Readable.from([await readFile(out)]), { length: size, maxVirtualSize: MiB }),
    (e) => isXenApiError(e) && e.code === 'VDI_TOO_LARGE',
  );
});

test('formats parse like xapi (case-insensitive, raw by default); sizes are known before streaming', async () => {
  assert.equal(parseDiskFormat(undefined), 'raw');
  assert.equal(parseDiskFormat('VHD'), 'vhd');
  assert.equal(parseDiskFormat('qcow2'), 'qcow2');
  assert.equal(parseDiskFormat('vmdk'), undefined);
  assert.equal(contentType('qcow2'), 'application/x-qemu-disk');
  assert.equal(contentType('vhd'), 'application/vhd');
  const src = { virtualSize: 10 * MiB, extents: [{ offset: 0, length: 1 }] };
  assert.equal(exportLength('vhd', src), 512 + 1024 + 512 + 512 + (512 + 2 * MiB) + 512);
  assert.equal(exportLength('tar', src), undefined);
  assert.throws(() => exportLength('vhd', { virtualSize: 2041 * 1024 * MiB, extents: [] }), /VDI_TOO_LARGE/);
  await assert.rejects(readDisk('tar', (async function* () {})(), {}), /XVA disk reader/);
});
