// Test-only data-plane handlers on a real manager: GET /test_stream streams `size` generated
// bytes (deterministic, never held whole); PUT /test_upload reads the body and records its
// SHA-256 as the task result. Both report what they did so tests can check backpressure.
import { createHash } from 'node:crypto';
import type { Services } from '../../../src/manager/api/context.js';
import { badRequest, mountDataHandler, notFound } from '../../../src/manager/http/data/index.js';
import type { HttpFrontend } from '../../../src/manager/http/server.js';
import { XenApiError } from '../../../src/shared/errors.js';

export const CHUNK = 64 * 1024;

/** Byte `i` of the generated stream. */
export const byteAt = (i: number) => (i * 31 + (i >>> 16)) & 0xff;

/** The generated stream's bytes [from, from + n). */
export function generated(from: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = byteAt(from + i);
  return b;
}

export interface TestHandlerState {
  /** Bytes the GET handler produced so far (the last request). */
  produced: number;
  /** Set when a handler ended, with how. */
  ended?: 'ok' | 'error';
  uploads: { bytes: number; sha256: string }[];
  redirects: number;
}

export function mountTestHandlers(frontend: HttpFrontend, svc: Services): TestHandlerState {
  const state: TestHandlerState = { produced: 0, uploads: [], redirects: 0 };
  mountDataHandler(frontend, svc, {
    path: '/test_stream',
    methods: ['GET'],
    action: 'http/get_export_raw_vdi',
    label: 'Test.stream',
    async handle(ctx) {
      state.produced = 0;
      state.ended = undefined;
      const fail = ctx.query.get('fail');
      if (fail === '400') throw badRequest(new XenApiError('INVALID_VALUE', ['fail', '400']));
      if (fail === '404') throw notFound(new XenApiError('INTERNAL_ERROR', ['Unknown format x']));
      if (fail === 'api') throw new XenApiError('VDI_IO_ERROR', ['Device I/O errors']);
      const redirect = ctx.query.get('redirect');
      if (redirect) return ctx.redirect(redirect);
      // Redirected once, then served (the Location keeps the query).
      const once = ctx.query.get('redirect_once');
      if (once && state.redirects++ === 0) return ctx.redirect(once);
      const lock = ctx.query.get('lock_vm');
      if (lock) await ctx.lockVm(lock, 'export');
      const size = Number(ctx.query.get('size') ?? '0');
      ctx.start({ 'content-type': 'application/octet-stream' });
      async function* source() {
        for (let off = 0; off < size; off += CHUNK) {
          const n = Math.min(CHUNK, size - off);
          state.produced = off + n;
          yield generated(off, n);
        }
      }
      try {
        await ctx.send(source(), size);
      } catch (e) {
        state.ended = 'error';
        throw e;
      }
      state.ended = 'ok';
      return ctx.query.get('result') ?? undefined;
    },
  });
  mountDataHandler(frontend, svc, {
    path: '/test_upload',
    methods: ['PUT'],
    action: 'http/put_import_raw_vdi',
    label: 'Test.upload',
    async handle(ctx) {
      if (ctx.isProbe) return undefined;
      ctx.start({ 'content-type': 'application/octet-stream' });
      const h = createHash('sha256');
      let bytes = 0;
      for await (const c of ctx.body()) {
        h.update(c);
        bytes += c.length;
        const total = Number(ctx.req.headers['content-length']);
        if (total > 0) ctx.progress(bytes / total);
      }
      const sha256 = h.digest('hex');
      state.uploads.push({ bytes, sha256 });
      return `OpaqueRef:${sha256}`;
    },
  });
  return state;
}
