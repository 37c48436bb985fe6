// npm run fuzz — the long run of every parser fuzz target (test/fuzz/targets.ts), one worker
// thread per target so that a hanging case can be stopped: the worker publishes the index of the
// case it is running; one stuck longer than FUZZ_HANG_MS is reported as a hang with its input
// (regenerated from seed and index) and the worker is terminated.
//   FUZZ_CASES (per target, default 120,000: 1,200,000 over the ten targets), FUZZ_SEED,
//   FUZZ_JOBS (targets run at once, default 1), FUZZ_TARGETS (comma-separated names), FUZZ_HANG_MS.
// Failures (minimised) are written to .cache/fuzz-failures/; exit code 1 when there is any.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { caseInput, type Failure, type RunStats, runTarget, showInput } from '../test/fuzz/engine.js';
import { fuzzTargets } from '../test/fuzz/targets.js';

interface Job {
  target: string;
  seed: number;
  cases: number;
  index: SharedArrayBuffer;
}

if (!isMainThread) {
  const job = workerData as Job;
  const at = new Int32Array(job.index);
  const target = fuzzTargets().find((t) => t.name === job.target)!;
  const stats = runTarget(target, {
    seed: job.seed,
    cases: job.cases,
    onCase: (i) => Atomics.store(at, 0, i),
  });
  parentPort!.postMessage(stats);
} else {
  const cases = Number(process.env.FUZZ_CASES ?? 120_000);
  const seed = Number(process.env.FUZZ_SEED ?? 12);
  const jobs = Math.max(1, Number(process.env.FUZZ_JOBS ?? 1));
  const hangMs = Number(process.env.FUZZ_HANG_MS ?? 10_000);
  const only = process.env.FUZZ_TARGETS?.split(',');
  const targets = fuzzTargets().filter((t) => !only || only.includes(t.name));
  const outDir = join(import.meta.dirname, '../.cache/fuzz-failures');

  const runOne = (name: string): Promise<RunStats> =>
    new Promise((resolve) => {
      const index = new SharedArrayBuffer(4);
      const at = new Int32Array(index);
      at[0] = -1; // the watchdog starts with the first case, not while the worker compiles
      const t0 = Date.now();
      const w = new Worker(new URL('./fuzz-worker.mjs', import.meta.url), {
        workerData: { target: name, seed, cases, index } satisfies Job,
      });
      let last = -1;
      let since = Date.now();
      const watch = setInterval(() => {
        const i = Atomics.load(at, 0);
        if (i < 0) return;
        if (i !== last) {
          last = i;
          since = Date.now();
          return;
        }
        if (Date.now() - since < hangMs) return;
        clearInterval(watch);
        void w.terminate();
        const t = targets.find((x) => x.name === name)!;
        const input = caseInput(t, seed, i);
        const hang: Failure = {
          target: name,
          seed,
          index: i,
          kind: 'slow',
          error: `hang: no progress for ${hangMs} ms`,
          input,
          minimised: input,
        };
        resolve({
          target: name,
          cases: i,
          accepted: 0,
          rejected: 0,
          ms: Date.now() - t0,
          slowestMs: hangMs,
          failures: [hang],
        });
      }, 250);
      w.on('message', (s: RunStats) => {
        clearInterval(watch);
        // Buffers arrive as Uint8Arrays from the worker.
        for (const f of s.failures)
          for (const k of ['input', 'minimised'] as const)
            if (!Array.isArray(f[k])) f[k] = Buffer.from(f[k] as Uint8Array);
        resolve(s);
      });
      w.on('error', (e) => {
        clearInterval(watch);
        const t = targets.find((x) => x.name === name)!;
        const i = Math.max(0, Atomics.load(at, 0));
        const input = caseInput(t, seed, i);
        resolve({
          target: name,
          cases: i,
          accepted: 0,
          rejected: 0,
          ms: Date.now() - t0,
          slowestMs: 0,
          failures: [
            {
              target: name,
              seed,
              index: i,
              kind: 'crash',
              error: `worker died: ${e.message}`,
              input,
              minimised: input,
            },
          ],
        });
      });
    });

  const t0 = Date.now();
  const queue = targets.map((t) => t.name);
  const results: RunStats[] = [];
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      for (let name = queue.shift(); name; name = queue.shift()) {
        const s = await runOne(name);
        results.push(s);
        console.log(
          `${s.target.padEnd(14)} ${String(s.cases).padStart(9)} cases  ${(s.ms / 1000).toFixed(1).padStart(6)} s  ` +
            `${String(Math.round(s.cases / (s.ms / 1000))).padStart(6)}/s  accepted ${String(s.accepted).padStart(7)}  ` +
            `slowest ${s.slowestMs.toFixed(0).padStart(4)} ms  failures ${s.failures.length}`,
        );
      }
    }),
  );
  const total = results.reduce((n, s) => n + s.cases, 0);
  const failures = results.flatMap((s) => s.failures);
  console.log(
    `total: ${total} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s (seed ${seed}), ${failures.length} failures`,
  );
  if (failures.length) mkdirSync(outDir, { recursive: true });
  for (const f of failures) {
    console.log(
      `FAIL ${f.target} case ${f.index} (${f.kind}): ${f.error}\n  minimised: ${showInput(f.minimised)}`,
    );
    const file = join(outDir, `${f.target}-${f.seed}-${f.index}`);
    writeFileSync(file, Array.isArray(f.minimised) ? JSON.stringify(f.minimised) : f.minimised);
  }
  process.exit(failures.length ? 1 : 0);
}
