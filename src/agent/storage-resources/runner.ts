// The agent's device plugins: one session each (session.ts), one outbox the master takes from, and
// the timer polling them. What the RPC procedures (rpc.ts) act on.
import type { DevicePluginMessage, DevicePluginState } from '../../shared/host/device-plugins.js';
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { DevicePlugin } from './device-plugin.js';
import { Outbox } from './outbox.js';
import { DEFAULT_TIMINGS, DevicePluginSession, type SessionTimings } from './session.js';

const log = logger('device-plugins');

export interface DevicePluginRunnerOptions {
  plugins: readonly DevicePlugin[];
  timings?: Partial<SessionTimings>;
  /** Milliseconds between timer ticks (default: 1 s, or the poll period when shorter). */
  tickMs?: number;
  outboxBytes?: number;
  /** Milliseconds (tests pin it). */
  clock?: () => number;
  /** false: no timer (tests call tick()). */
  timer?: boolean;
}

export class DevicePluginRunner {
  readonly outbox: Outbox;
  readonly #sessions = new Map<string, DevicePluginSession>();
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | null = null;
  #closed = false;

  constructor(opts: DevicePluginRunnerOptions) {
    this.outbox = new Outbox(opts.outboxBytes);
    this.#clock = opts.clock ?? Date.now;
    const timings = { ...DEFAULT_TIMINGS, ...opts.timings };
    for (const p of opts.plugins)
      this.#sessions.set(
        p.name,
        new DevicePluginSession(
          p,
          (m) => this.outbox.push(m),
          timings,
          (msg, f) => log.warn(msg, f),
        ),
      );
    if (opts.timer !== false && this.#sessions.size > 0) {
      const tickMs = opts.tickMs ?? Math.min(1000, timings.pollMs);
      this.#timer = setInterval(() => void this.tick(), tickMs);
      this.#timer.unref();
      void this.tick();
    }
  }

  /** Polls every plugin once (sequentially: their tools would compete for the same disks). */
  tick(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#ticking ??= (async () => {
      for (const s of this.#sessions.values()) await s.poll(this.#clock());
    })().finally(() => {
      this.#ticking = null;
    });
    return this.#ticking;
  }

  take(): DevicePluginMessage[] {
    return this.outbox.take();
  }

  async sessionCreate(plugin: string, id: string): Promise<void> {
    await this.#session(plugin).create(id);
    // Start at once rather than at the next tick.
    if (this.#timer) void this.tick();
  }

  async sessionTerminate(plugin: string, id: string | null): Promise<void> {
    await this.#session(plugin).terminate(id, this.#clock());
  }

  list(): DevicePluginState[] {
    return [...this.#sessions.values()].map((s) => s.state());
  }

  /** One start_session outside any session (diagnostics). */
  async run(plugin: string): Promise<unknown> {
    const instance = this.#session(plugin).plugin.createInstance();
    try {
      return await instance.startSession();
    } finally {
      await instance.teardown?.();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#ticking?.catch(() => undefined);
    for (const s of this.#sessions.values()) await s.close();
  }

  #session(plugin: string): DevicePluginSession {
    const s = this.#sessions.get(plugin);
    if (!s) throw new XenApiError('INVALID_VALUE', ['plugin', plugin]);
    return s;
  }
}
