// Backpressure end to end: a slow reader of the export holds the disk reads back (also through
// the zstd child), a slow import consumer holds the upload back, and dropping the export stream
// stops the source and the zstd child.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { test } from 'node:test';
import { compressStream } from '../../../src/shared/xva/compress.js';
import { berthOvaVersion, encodeOvaXml } from '../../../src/shared/xva/ova-xml.js';
import { readXva } from '../../../src/shared/xva/reader.js';
import { type XvaChunk, xvaTarStream } from '../../../src/shared/xva/writer.js';
import { collect, MiB } from './helpers.js';

const OVA = encodeOvaXml(berthOvaVersion(), []);
const SIZE = 1024 * MiB;
const data = randomBytes(MiB);

function countingSource() {
  const s = { produced: 0, finished: false };
  async function* chunks(): AsyncGenerator<XvaChunk> {
    try {
      for (let off = 0; off < SIZE; off += MiB) {
        s.produced += MiB;
        yield { offset: off, data };
      }
    } finally {
      s.finished = true;
    }
  }
  return { s, chunks: chunks() };
}

async function zstdChildren(): Promise<number[]> {
  const out: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(await readFile(`/proc/${p}/stat`, 'latin1'));
      if (m && m[1] === 'zstd' && Number(m[2]) === process.pid) out.push(Number(p));
    } catch {}
  }
  return out;
}

for (const kind of ['none', 'zstd'] as const) {
  test(`export (${kind}): a paused reader stops the disk reads; dropping the stream ends everything`, async () => {
    const { s, chunks } = countingSource();
    const out = compressStream(
      xvaTarStream(OVA, [{ ref: 'Ref:1', virtualSize: SIZE, chunks }], { keepAliveMs: 0 }),
      kind,
    );
    let got = 0;
    for await (const b of out) {
      got += b.length;
      if (got > 4 * MiB) break; // breaking out of for-await destroys the stream
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(s.produced < 64 * MiB, `source ran ahead: ${s.produced / MiB} MiB read for ${got} bytes taken`);
    assert.equal(s.finished, true, 'the source generator was not closed');
    assert.deepEqual(await zstdChildren(), []);
  });
}

test('import: a slow consumer holds the upload back', async () => {
  const disk = 32 * MiB;
  const xva = await collect(
    xvaTarStream(
      OVA,
      [
        {
          ref: 'Ref:1',
          virtualSize: disk,
          chunks: (async function* () {
            for (let off = 0; off < disk; off += MiB) yield { offset: off, data };
          })(),
        },
      ],
      { keepAliveMs: 0 },
    ),
  );
  let pulled = 0;
  async function* upload() {
    for (let i = 0; i < xva.length; i += 64 * 1024) {
      pulled += Math.min(64 * 1024, xva.length - i);
      yield xva.subarray(i, i + 64 * 1024);
    }
  }
  let delivered = 0;
  let maxAhead = 0;
  await readXva(upload(), {
    metadata: () => [{ ref: 'Ref:1', virtualSize: disk }],
    chunk: async (c) => {
      delivered += c.data.length;
      maxAhead = Math.max(maxAhead, pulled - delivered);
      await new Promise((r) => setTimeout(r, 5));
    },
  });
  assert.equal(delivered, disk);
  assert.ok(maxAhead < 8 * MiB, `the reader ran ${maxAhead / MiB} MiB ahead of the consumer`);
});
