// The scan daemon for controller plugins (IML's plugin_runner daemon, reference §12): one loop per
// scannable root — new plugin instance, doInitialScan, then doPeriodicUpdate every updatePeriod
// seconds. Any exception, or a scan call that outlasts `scanTimeoutMs` (a hung plugin must not hang
// the manager), ends the run: the sink hears sessionOffline(root, reason) and the loop restarts
// after a back-off of 1 s doubling to 256 s (back to 1 s when the run lasted longer than 256 s).
// Roots are re-listed every `discoverEveryS` seconds; a root no longer listed has its loop stopped.
// Timers and the clock are injected so tests run on fake time.
import type { ResourceSessionSink, SessionRoot } from '../../../shared/storage-resources/session.js';
import { nextBackoffS } from './backoff.js';

/** What the daemon needs of a plugin instance (the Plugin base's lifecycle). */
export interface ScanningPlugin {
  updatePeriod: number;
  doInitialScan(): Promise<void>;
  doPeriodicUpdate(): Promise<void>;
  doTeardown?(): Promise<void> | void;
}

export interface ScanRoot {
  root: SessionRoot;
  /** The root's settings (its attributes): a change stops the loop and starts a new one. */
  key?: string;
  /** Builds a fresh plugin instance for one run of the root's loop. */
  createPlugin(): ScanningPlugin;
}

export interface DaemonTimers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: DaemonTimers = {
  now: () => Date.now(),
  // unref: a sleeping scan loop never keeps the process alive on its own.
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ScanDaemonOptions {
  sink: Pick<ResourceSessionSink, 'sessionOffline'>;
  listRoots(): ScanRoot[] | Promise<ScanRoot[]>;
  timers?: DaemonTimers;
  /** Bound on one doInitialScan/doPeriodicUpdate call. */
  scanTimeoutMs?: number;
  discoverEveryS?: number;
  log?: (msg: string, fields: Record<string, unknown>) => void;
}

export const DEFAULT_SCAN_TIMEOUT_MS = 120_000;

class ScanTimeout extends Error {}

interface RootLoop {
  key: string | undefined;
  stopped: boolean;
  timer?: unknown;
  /** Resolves the pending sleep/scan wait early when the loop is stopped. */
  wake?: () => void;
  done: Promise<void>;
}

export class ScanDaemon {
  readonly #opts: Required<Omit<ScanDaemonOptions, 'log'>> & Pick<ScanDaemonOptions, 'log'>;
  readonly #loops = new Map<SessionRoot, RootLoop>();
  #discoverTimer: unknown;
  #running = false;

  constructor(opts: ScanDaemonOptions) {
    // `?? default` rather than spread defaults: an explicit undefined must not erase a default.
    this.#opts = {
      ...opts,
      timers: opts.timers ?? realTimers,
      scanTimeoutMs: opts.scanTimeoutMs ?? DEFAULT_SCAN_TIMEOUT_MS,
      discoverEveryS: opts.discoverEveryS ?? 5,
    };
  }

  get roots(): SessionRoot[] {
    return [...this.#loops.keys()];
  }

  async start(): Promise<void> {
    this.#running = true;
    await this.discover();
  }

  /** Lists roots: starts loops for new ones, stops loops of roots gone; schedules the next discovery. */
  async discover(): Promise<void> {
    if (!this.#running) return;
    const t = this.#opts.timers;
    t.clearTimeout(this.#discoverTimer);
    try {
      const roots = await this.#opts.listRoots();
      const wanted = new Map(roots.map((r) => [r.root, r]));
      // Removed or modified roots: their loop stops first (reference §12).
      for (const [root, loop] of [...this.#loops]) {
        const now = wanted.get(root);
        if (!now || now.key !== loop.key) await this.stopRoot(root);
      }
      for (const r of roots) if (!this.#loops.has(r.root) && this.#running) this.#startLoop(r);
    } catch (e) {
      this.#opts.log?.('root discovery failed', { error: String(e) });
    }
    if (this.#running)
      this.#discoverTimer = t.setTimeout(() => void this.discover(), this.#opts.discoverEveryS * 1000);
  }

  /** Stops one root's loop and waits for its current run to tear down. */
  async stopRoot(root: SessionRoot): Promise<void> {
    const loop = this.#loops.get(root);
    if (!loop) return;
    loop.stopped = true;
    this.#opts.timers.clearTimeout(loop.timer);
    loop.wake?.();
    this.#loops.delete(root);
    await loop.done;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#opts.timers.clearTimeout(this.#discoverTimer);
    await Promise.all([...this.#loops.keys()].map((r) => this.stopRoot(r)));
  }

  #startLoop(r: ScanRoot): void {
    const loop: RootLoop = { key: r.key, stopped: false, done: Promise.resolve() };
    this.#loops.set(r.root, loop);
    loop.done = this.#runLoop(r, loop);
  }

  /** Waits `ms` on the injected timers; returns early when the loop is stopped. */
  #sleep(loop: RootLoop, ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (loop.stopped) return resolve();
      loop.wake = resolve;
      loop.timer = this.#opts.timers.setTimeout(resolve, ms);
    });
  }

  /** One scan call, bounded by scanTimeoutMs; a stop while it runs abandons it. */
  #bounded(loop: RootLoop, call: () => Promise<void>): Promise<void> {
    const t = this.#opts.timers;
    return new Promise<void>((resolve, reject) => {
      const timer = t.setTimeout(
        () => reject(new ScanTimeout(`scan did not finish within ${this.#opts.scanTimeoutMs / 1000} s`)),
        this.#opts.scanTimeoutMs,
      );
      loop.wake = () => {
        t.clearTimeout(timer);
        resolve();
      };
      Promise.resolve()
        .then(call)
        .then(
          () => {
            t.clearTimeout(timer);
            resolve();
          },
          (e) => {
            t.clearTimeout(timer);
            reject(e);
          },
        );
    });
  }

  async #runLoop(r: ScanRoot, loop: RootLoop): Promise<void> {
    const { timers: t, sink } = this.#opts;
    let backoffS = 0;
    while (!loop.stopped) {
      const started = t.now();
      let plugin: ScanningPlugin | undefined;
      let reason: string | undefined;
      try {
        plugin = r.createPlugin();
        const p = plugin;
        await this.#bounded(loop, () => p.doInitialScan());
        while (!loop.stopped) {
          await this.#sleep(loop, Math.max(0, p.updatePeriod) * 1000);
          if (loop.stopped) break;
          await this.#bounded(loop, () => p.doPeriodicUpdate());
        }
      } catch (e) {
        reason = e instanceof Error ? e.message : String(e);
      }
      try {
        await plugin?.doTeardown?.();
      } catch (e) {
        this.#opts.log?.('plugin teardown failed', { root: r.root, error: String(e) });
      }
      if (reason === undefined || loop.stopped) break;
      this.#opts.log?.('storage plugin scan failed', { root: r.root, reason });
      try {
        await sink.sessionOffline(r.root, reason);
      } catch (e) {
        this.#opts.log?.('sessionOffline failed', { root: r.root, error: String(e) });
      }
      backoffS = nextBackoffS(backoffS, (t.now() - started) / 1000);
      await this.#sleep(loop, backoffS * 1000);
    }
  }
}
