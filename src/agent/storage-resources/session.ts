// One device plugin's session on the agent (IML's agent Session and its plugin manager, reference
// §13), driven by explicit times so that tests need no real clock:
//
//   no session: SESSION_CREATE_REQUEST, repeated after 10 s, 20 s, 40 s, then every 60 s while
//     the master does not answer;
//   created (the master's device_plugin_session_create): the next poll runs start_session → DATA
//     seq 0; then at most every poll period update_session → DATA seq+1 (null: nothing sent);
//   an exception in either: SESSION_TERMINATE, the instance torn down, a new request at once;
//   terminated by the master: the instance torn down, a new request at once.
import type { DevicePluginMessage, DevicePluginState } from '../../shared/host/device-plugins.js';
import type { DevicePlugin, DevicePluginInstance } from './device-plugin.js';

export interface SessionTimings {
  /** Minimum milliseconds between two polls of a session (IML: 10 s). */
  pollMs: number;
  /** First wait before repeating an unanswered session request (IML: 10 s), doubled each time… */
  requestBackoffMs: number;
  /** …up to this (IML: 60 s). */
  requestBackoffMaxMs: number;
}

export const DEFAULT_TIMINGS: SessionTimings = {
  pollMs: 10_000,
  requestBackoffMs: 10_000,
  requestBackoffMaxMs: 60_000,
};

interface Active {
  id: string;
  instance: DevicePluginInstance;
  /** Sequence number of the last DATA queued; null: start_session not run yet. */
  seq: number | null;
  lastPollAt: number | null;
}

export class DevicePluginSession {
  #active: Active | null = null;
  /** When the next SESSION_CREATE_REQUEST may go (no session). */
  #nextRequestAt = Number.NEGATIVE_INFINITY;
  #backoffMs: number;
  #lastError: string | null = null;
  /** A poll in progress (polls of one plugin never overlap). */
  #polling: Promise<void> | null = null;

  constructor(
    readonly plugin: DevicePlugin,
    private readonly send: (m: DevicePluginMessage) => void,
    private readonly timings: SessionTimings = DEFAULT_TIMINGS,
    private readonly log: (msg: string, fields: Record<string, unknown>) => void = () => {},
  ) {
    this.#backoffMs = timings.requestBackoffMs;
  }

  get name(): string {
    return this.plugin.name;
  }

  state(): DevicePluginState {
    return {
      name: this.name,
      session_id: this.#active?.id ?? null,
      session_seq: this.#active?.seq ?? null,
      last_error: this.#lastError,
    };
  }

  /** Does what is due at `now` (ms): a session request, or a start/update poll. */
  poll(now: number): Promise<void> {
    this.#polling ??= this.#poll(now).finally(() => {
      this.#polling = null;
    });
    return this.#polling;
  }

  async #poll(now: number): Promise<void> {
    const a = this.#active;
    if (!a) {
      if (now < this.#nextRequestAt) return;
      this.send({
        type: 'SESSION_CREATE_REQUEST',
        plugin: this.name,
        session_id: null,
        session_seq: null,
        body: null,
      });
      this.#nextRequestAt = now + this.#backoffMs;
      this.#backoffMs = Math.min(this.#backoffMs * 2, this.timings.requestBackoffMaxMs);
      return;
    }
    if (a.lastPollAt !== null && now - a.lastPollAt < this.timings.pollMs) return;
    a.lastPollAt = now;
    let body: unknown;
    try {
      body = a.seq === null ? await a.instance.startSession() : await a.instance.updateSession();
      this.#lastError = null;
    } catch (e) {
      this.#lastError = e instanceof Error ? e.message : String(e);
      this.log('device plugin failed', { plugin: this.name, session: a.id, error: this.#lastError });
      if (this.#active !== a) return; // terminated meanwhile: already ended
      this.send({
        type: 'SESSION_TERMINATE',
        plugin: this.name,
        session_id: a.id,
        session_seq: null,
        body: null,
      });
      await this.#end(now);
      return;
    }
    // Terminated (or replaced) by the master while the plugin ran: the result belongs to no session.
    if (this.#active !== a) return;
    if (a.seq !== null && (body === null || body === undefined)) return;
    a.seq = a.seq === null ? 0 : a.seq + 1;
    this.send({ type: 'DATA', plugin: this.name, session_id: a.id, session_seq: a.seq, body: body ?? null });
  }

  /** The master's answer to a request: the next poll starts session `id` (replacing any other). */
  async create(id: string): Promise<void> {
    const old = this.#active;
    this.#active = { id, instance: this.plugin.createInstance(), seq: null, lastPollAt: null };
    this.#backoffMs = this.timings.requestBackoffMs;
    if (old) await this.#teardown(old);
  }

  /** The master ends session `id` (null: whichever): a new request goes at the next poll. */
  async terminate(id: string | null, now: number): Promise<void> {
    const a = this.#active;
    if (!a || (id !== null && a.id !== id)) return;
    await this.#end(now);
  }

  /** Ends the session for good (agent stopping). */
  async close(): Promise<void> {
    await this.#polling?.catch(() => undefined);
    const a = this.#active;
    this.#active = null;
    if (a) await this.#teardown(a);
  }

  async #end(now: number): Promise<void> {
    const a = this.#active;
    this.#active = null;
    this.#backoffMs = this.timings.requestBackoffMs;
    this.#nextRequestAt = now;
    if (a) await this.#teardown(a);
  }

  async #teardown(a: Active): Promise<void> {
    try {
      await a.instance.teardown?.();
    } catch (e) {
      this.log('device plugin teardown failed', { plugin: this.name, session: a.id, error: String(e) });
    }
  }
}
