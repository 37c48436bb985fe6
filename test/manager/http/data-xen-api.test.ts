// Xen Orchestra's xen-api package (unchanged) moving bytes through the data-plane framework as
// XO does: getResource with its own task (watched by events until the server settles it), and
// putResource of a Buffer, of a stream with a length (probe first) and of a stream without one
// (XO's 1 PiB Content-Length, then the socket destroyed).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { createClient, type Xapi } from 'xen-api';
import { startManager } from '../../helpers/manager.js';
import { generated, mountTestHandlers } from './data-test-handlers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('xen-api getResource / putResource against data handlers', { timeout: 120_000 }, async (t) => {
  const m = await startManager(t);
  const state = mountTestHandlers(m.manager.frontend, m.manager.svc);
  const xapi: Xapi = createClient({
    url: m.httpUrl,
    auth: { user: 'root', password: m.rootPassword },
    watchEvents: ['task'],
    debounce: 10,
  });
  await xapi.connect();
  t.after(() => xapi.disconnect());
  const x = xapi as any;

  const size = 8 << 20;
  const res = await x.getResource('/test_stream/', { query: { size: String(size), result: 'OpaqueRef:r' } });
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c);
  assert.equal(sha(Buffer.concat(chunks)), sha(generated(0, size)));
  assert.equal(await res.task, 'OpaqueRef:r', 'the task settled with its result');

  const body = generated(0, 3 << 20);
  const r1 = await x.putResource(body, '/test_upload/', {});
  assert.equal(r1, `OpaqueRef:${sha(body)}`);
  const withLength = Object.assign(Readable.from([body.subarray(0, 1 << 20), body.subarray(1 << 20)]), {
    length: body.length,
  });
  const r2 = await x.putResource(withLength, '/test_upload/', {});
  assert.equal(r2, `OpaqueRef:${sha(body)}`);
  assert.equal(state.uploads.length, 2, 'the probe before a stream had no effect');
  // No length: the 1 PiB hack; the data ends where the client closes the connection.
  const noLength = Readable.from([body.subarray(0, 1 << 20), body.subarray(1 << 20)]);
  await x.putResource(noLength, '/test_upload/', {});
  const until = Date.now() + 10_000;
  while (state.uploads.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(state.uploads[2], { bytes: body.length, sha256: sha(body) });

  // A refused transfer rejects: read-only users get 403, and the task fails (no hang).
  await m.manager.svc.users.add('ro-xo', 'read-only', 'ro-pw');
  const ro: Xapi = createClient({
    url: m.httpUrl,
    auth: { user: 'ro-xo', password: 'ro-pw' },
    watchEvents: ['task'],
  });
  await ro.connect();
  t.after(() => ro.disconnect());
  await assert.rejects((ro as any).getResource('/test_stream/', { query: { size: '1' } }), /unexpected 403/);
  await ro.disconnect();
  await xapi.disconnect();
});
