// The agent's sampling cycle: every 5 s on the 5 s grid (…:00, :05, :10 of the wall clock, as
// xcp-rrdd), one reading fed to the store. Cycles never overlap: one that runs past the next grid
// point makes the loop skip to the grid point after it ends. Errors are logged, never thrown.
import { logger } from '../../shared/log.js';
import type { Sampler } from './sample.js';
import type { StatsStore } from './store.js';

const log = logger('stats-loop');

export const STEP_MS = 5000;

/** Milliseconds from `now` to the next multiple of `stepMs` (a full step when exactly on one). */
export function msToNextTick(now: number, stepMs: number): number {
  return stepMs - (now % stepMs);
}

export interface StatsLoop {
  /** Cycles run (tests, logs). */
  readonly cycles: number;
  /** Cycles skipped because the one before ran past their time. */
  readonly skipped: number;
  /** Stops the loop; resolves once a cycle under way has finished. */
  stop(): Promise<void>;
}

export function startStatsLoop(opts: {
  sampler: Sampler;
  store: StatsStore;
  stepMs?: number;
  now?: () => number;
  /** Called after every cycle (the archive's hook, tests). */
  afterCycle?: () => void;
}): StatsLoop {
  const stepMs = opts.stepMs ?? STEP_MS;
  const now = opts.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const state = { cycles: 0, skipped: 0 };

  const cycle = async () => {
    const due = now();
    try {
      const sample = await opts.sampler.sample();
      if (!stopped) opts.store.ingest(sample);
      state.cycles++;
      opts.afterCycle?.();
    } catch (e) {
      log.error('statistics cycle failed', {
        error: e instanceof Error ? (e.stack ?? e.message) : String(e),
      });
    }
    const took = now() - due;
    if (took > stepMs) {
      const missed = Math.floor(took / stepMs);
      state.skipped += missed;
      log.warn('statistics cycle overran its step', { ms: took, skipped: missed });
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        running = cycle().finally(() => {
          running = undefined;
          schedule();
        });
      },
      msToNextTick(now(), stepMs),
    );
    timer.unref?.();
  };
  schedule();

  return {
    get cycles() {
      return state.cycles;
    },
    get skipped() {
      return state.skipped;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
