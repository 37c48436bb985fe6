// XXH64 on a worker thread, so the checksum of one chunk is computed while the previous chunk's
// bytes are being written out (the WebAssembly hash runs at ~1 GB/s on one core, which would
// otherwise serialise with compression and I/O on the main thread).
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const XXHASH_CJS = createRequire(import.meta.url).resolve('xxhash-wasm');

// Plain CommonJS for an eval worker: no TypeScript loader needed under tsx or after tsc.
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
require(workerData.lib)().then((api) => {
  parentPort.on('message', ({ id, buf }) => {
    const h = api.h64Raw(new Uint8Array(buf), 0n).toString(16).toUpperCase().padStart(16, '0');
    parentPort.postMessage({ id, h });
  });
  parentPort.postMessage({ id: 0, h: 'ready' });
});`;

export interface ChunkHasher {
  /** XXH64 of `data` as 16 uppercase hex digits (the bytes are copied; the caller keeps `data`). */
  hash(data: Uint8Array): Promise<string>;
  close(): Promise<void>;
}

export function startHashWorker(): ChunkHasher {
  const w = new Worker(WORKER_CODE, { eval: true, workerData: { lib: XXHASH_CJS } });
  w.unref();
  const pending = new Map<number, { resolve: (h: string) => void; reject: (e: Error) => void }>();
  let next = 1;
  let failed: Error | undefined;
  const failAll = (e: Error) => {
    failed = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  w.on('message', ({ id, h }: { id: number; h: string }) => {
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    p.resolve(h);
  });
  w.on('error', failAll);
  w.on('exit', () => failAll(new Error('xxhash worker exited')));
  return {
    hash(data) {
      if (failed) return Promise.reject(failed);
      const id = next++;
      const copy = new Uint8Array(data.byteLength);
      copy.set(data);
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.postMessage({ id, buf: copy.buffer }, [copy.buffer]);
      });
    },
    async close() {
      await w.terminate();
    },
  };
}
