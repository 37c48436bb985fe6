// ReadPool: read buffers come back only after the sink said their bytes were written out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadPool, written } from '../../../src/shared/disk-formats/recycle.js';

const fill = (byte: number) => async (_offset: number, target: Buffer) => target.fill(byte);

test('a buffer is reused only after written(); until then its bytes stay as read', async () => {
  const pool = new ReadPool(1024);
  const a = await pool.reader(fill(1))(0, 1024);
  const b = await pool.reader(fill(2))(0, 1000);
  assert.notEqual(a.buffer, b.buffer, 'a not written yet: b has its own buffer');
  assert.equal(b.length, 1000);
  assert.ok(a.every((x) => x === 1));
  written(a);
  const c = await pool.reader(fill(3))(0, 512);
  assert.equal(c.buffer, a.buffer, 'a recycled');
  assert.ok(
    b.every((x) => x === 2),
    'b untouched',
  );
  written(a); // a second call is harmless: a is not handed out twice
  const d = await pool.reader(fill(4))(0, 512);
  assert.notEqual(d.buffer, c.buffer);
});

test('a slice of a pooled buffer, an oversized read or a failed read recycles nothing wrongly', async () => {
  const pool = new ReadPool(1024);
  const read = pool.reader(fill(7));
  const a = await read(0, 1024);
  written(a.subarray(0, 10)); // not the object lent: ignored
  const b = await read(0, 1024);
  assert.notEqual(b.buffer, a.buffer);
  const big = await read(0, 4096);
  assert.equal(big.length, 4096);
  written(big); // not pooled: ignored
  // A failed read gives its buffer back at once.
  const failing = pool.reader(async () => {
    throw new Error('EIO');
  });
  written(b);
  await assert.rejects(failing(0, 100), /EIO/);
  const c = await read(0, 100);
  assert.equal(c.buffer, b.buffer, 'the failed read returned b to the pool');
});
