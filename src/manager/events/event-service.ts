// Blocking event delivery: event.from waits for matching changes (or its timeout), the legacy
// event.register/next queue per session, and the pool heartbeat. Waiters wake on every commit;
// there is no batching delay, so a change reaches waiting clients within one event-loop turn.
import { XenApiError } from '../../shared/errors.js';
import type { Change, Database, Row } from '../db/database.js';
import {
  collectEvents,
  formatToken,
  parseSubscription,
  parseToken,
  type Subscription,
  subscribes,
  validRefCounts,
  type WireEvent,
} from './event-from.js';

export interface EventBatch {
  events: WireEvent[];
  valid_ref_counts: Record<string, number>;
  token: string;
}

interface Waiter {
  session: string;
  /** event.from's subscription: commits with nothing it subscribes to leave it asleep. */
  sub?: Subscription;
  wake: (reason?: XenApiError) => void;
}

interface LegacyRegistration {
  sub: Subscription;
  /** Generation of the last change delivered. */
  position: number;
}

const MAX_TIMEOUT_S = 86400;

export class EventService {
  private readonly waiters = new Set<Waiter>();
  private readonly legacy = new Map<string, LegacyRegistration>();
  private heartbeat?: NodeJS.Timeout;
  /** Batches computed at the current generation, shared by watchers with the same query. */
  private memo = { gen: -1, batches: new Map<string, EventBatch>() };

  constructor(
    private readonly db: Database,
    private readonly snapshot: (cls: string, row: Row) => Row,
  ) {
    db.onCommit((changes) => this.notify(changes));
  }

  /** Emits a `mod` of the pool every `intervalMs`, as xapi's DB GC pass does. */
  startHeartbeat(poolRef: () => string | undefined, intervalMs = 30_000) {
    this.heartbeat = setInterval(() => {
      const ref = poolRef();
      if (ref && this.db.has('pool', ref)) this.db.touch('pool', ref);
    }, intervalMs);
    this.heartbeat.unref();
  }

  stop() {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const w of [...this.waiters]) w.wake();
  }

  private notify(changes: readonly Change[]) {
    for (const w of [...this.waiters]) if (!w.sub || this.concerns(w.sub, changes)) w.wake();
  }

  /** Does a commit hold a change event.from would report to this subscription? */
  private concerns(sub: Subscription, changes: readonly Change[]): boolean {
    for (const ch of changes) {
      if (this.db.model.classes[ch.cls]?.genEvents && subscribes(sub, ch.cls.toLowerCase(), ch.ref))
        return true;
    }
    return false;
  }

  /** Wakes the session's blocked calls with SESSION_INVALID (logout, expiry). */
  sessionEnded(session: string) {
    this.legacy.delete(session);
    for (const w of [...this.waiters]) {
      if (w.session === session) w.wake(new XenApiError('SESSION_INVALID', [session]));
    }
  }

  private wait(session: string, ms: number, signal?: AbortSignal, sub?: Subscription): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        session,
        sub,
        wake: (reason) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          signal?.removeEventListener('abort', onAbort);
          if (reason) reject(reason);
          else resolve();
        },
      };
      const onAbort = () => waiter.wake();
      const timer = setTimeout(() => waiter.wake(), ms);
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort);
    });
  }

  async from(
    session: string,
    classes: readonly string[],
    token: string,
    timeoutS: number,
    signal?: AbortSignal,
  ): Promise<EventBatch> {
    const since = parseToken(token);
    const sub = parseSubscription(classes);
    const timeout =
      !Number.isFinite(timeoutS) || timeoutS < 0 || timeoutS > MAX_TIMEOUT_S ? MAX_TIMEOUT_S : timeoutS;
    const deadline = Date.now() + timeout * 1000;
    const key = `${since}|${[...classes].sort().join(',')}`;
    for (;;) {
      const gen = this.db.currentGeneration;
      if (this.memo.gen !== gen) this.memo = { gen, batches: new Map() };
      const shared = this.memo.batches.get(key);
      if (shared) return shared;
      const events = collectEvents(this.db, sub, since, this.snapshot);
      const remaining = deadline - Date.now();
      if (events.length > 0 || remaining <= 0 || signal?.aborted) {
        const batch: EventBatch = {
          events,
          valid_ref_counts: validRefCounts(this.db),
          token: formatToken(events.length ? gen : Math.max(gen, since)),
        };
        if (events.length > 0) this.memo.batches.set(key, batch);
        return batch;
      }
      await this.wait(session, remaining, signal, sub);
    }
  }

  /** event.inject: a `mod` of the object without changing it; returns a token just before it. */
  inject(cls: string, ref: string): string {
    if (!this.db.model.classes[cls]?.inDb || !this.db.has(cls, ref))
      throw new XenApiError('HANDLE_INVALID', [cls, ref]);
    const gen = this.db.touch(cls, ref);
    return formatToken(gen - 1);
  }

  // ---------- legacy event.register / unregister / next ----------

  register(session: string, classes: readonly string[]) {
    const reg = this.legacy.get(session);
    if (!reg) {
      this.legacy.set(session, { sub: parseSubscription(classes), position: this.db.currentGeneration });
      return;
    }
    const add = parseSubscription(classes);
    reg.sub.all ||= add.all;
    for (const c of add.classes) reg.sub.classes.add(c);
    for (const o of add.objects) reg.sub.objects.add(o);
  }

  unregister(session: string, classes: readonly string[]) {
    const reg = this.legacy.get(session);
    if (!reg) return;
    const drop = parseSubscription(classes);
    if (drop.all) reg.sub.all = false;
    for (const c of drop.classes) reg.sub.classes.delete(c);
    for (const o of drop.objects) reg.sub.objects.delete(o);
  }

  async next(session: string, signal?: AbortSignal): Promise<WireEvent[]> {
    for (;;) {
      const reg = this.legacy.get(session);
      if (!reg) throw new XenApiError('SESSION_NOT_REGISTERED', [session]);
      const changes = this.db.changesSince(reg.position);
      if (!changes) throw new XenApiError('EVENTS_LOST', []);
      const out: WireEvent[] = [];
      for (const ch of changes) {
        if (!this.db.model.classes[ch.cls]?.genEvents) continue;
        const lower = ch.cls.toLowerCase();
        if (!subscribes(reg.sub, lower, ch.ref)) continue;
        const row = ch.op === 'del' ? ch.snapshot : this.db.get(ch.cls, ch.ref);
        const ev: WireEvent = {
          id: String(ch.gen),
          timestamp: `${Math.floor(Date.now() / 1000)}.`,
          class: lower,
          operation: ch.op,
          ref: ch.ref,
        };
        if (row) ev.snapshot = this.snapshot(ch.cls, row);
        out.push(ev);
      }
      if (changes.length) reg.position = changes[changes.length - 1].gen;
      if (out.length) return out;
      if (signal?.aborted) return [];
      await this.wait(session, MAX_TIMEOUT_S * 1000, signal);
    }
  }

  currentId(): number {
    return this.db.currentGeneration;
  }
}
