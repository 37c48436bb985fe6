import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  changedExtents,
  extentsFromBitmap,
  normalizeExtents,
  subtractExtents,
  touchedBlocks,
  unionExtents,
} from '../../../src/shared/disk-formats/extents.js';

const ex = (...pairs: [number, number][]) => pairs.map(([offset, length]) => ({ offset, length }));

test('normalizeExtents sorts, merges touching/overlapping ranges, drops empty ones and clips', () => {
  assert.deepEqual(normalizeExtents(ex([10, 5], [0, 3], [3, 2], [12, 10], [40, 0])), ex([0, 5], [10, 12]));
  assert.deepEqual(normalizeExtents(ex([90, 20], [-5, 10]), 100), ex([0, 5], [90, 10]));
});

test('unionExtents and subtractExtents', () => {
  assert.deepEqual(unionExtents(ex([0, 10]), ex([5, 10], [30, 1])), ex([0, 15], [30, 1]));
  assert.deepEqual(subtractExtents(ex([0, 100]), ex([10, 10], [50, 60])), ex([0, 10], [20, 30]));
  assert.deepEqual(subtractExtents(ex([0, 10], [20, 10]), ex([5, 20])), ex([0, 5], [25, 5]));
  assert.deepEqual(subtractExtents(ex([0, 10]), []), ex([0, 10]));
});

test('touchedBlocks counts partly covered blocks whole and never twice', () => {
  assert.deepEqual(touchedBlocks(ex([0, 1], [1, 1], [2047, 2], [5000, 10]), 1024, 8192), [0, 1, 2, 4]);
  assert.deepEqual(touchedBlocks(ex([8000, 1000]), 1024, 8192), [7]);
  assert.deepEqual(touchedBlocks([], 1024, 8192), []);
});

test('extentsFromBitmap reads a changed-block bitmap, xapi order (MSB first) by default', () => {
  // Bits 0, 1 and 9 set, most significant first: 0b11000000, 0b01000000 (BitArray's reading).
  assert.deepEqual(
    extentsFromBitmap(Uint8Array.of(0xc0, 0x40), 65536, 16 * 65536),
    ex([0, 131072], [9 * 65536, 65536]),
  );
  assert.deepEqual(
    extentsFromBitmap(Uint8Array.of(0x03, 0x02), 65536, 16 * 65536, 'lsb'),
    ex([0, 131072], [9 * 65536, 65536]),
  );
  // The last bit covers a partial granule: clipped to the disk.
  assert.deepEqual(extentsFromBitmap(Uint8Array.of(0x20), 100, 250), ex([200, 50]));
  // Bits past the disk are ignored.
  assert.deepEqual(extentsFromBitmap(Uint8Array.of(0xff), 100, 250), ex([0, 250]));
});

test('changedExtents takes both branches, as xapi does for base=', () => {
  // Exported disk wrote [0,10) since the common ancestor; the base wrote [50,60) after it.
  assert.deepEqual(changedExtents([ex([0, 10])], [ex([50, 10])]), ex([0, 10], [50, 10]));
  assert.deepEqual(changedExtents([ex([0, 10]), ex([5, 20])]), ex([0, 25]));
});
