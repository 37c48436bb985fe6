// Serialises the store's calls and commits the calls queued together in one SQLite transaction,
// each call inside its own savepoint: a failing call is undone alone and rejects; the others
// resolve once the shared commit is on disk (one fsync for a whole update round sent at once).
// In-memory changes a call made are undone if its savepoint or the shared commit fails.
import { logger } from '../../shared/log.js';
import type { AlertEvent, CallContext, StoreState } from './context.js';
import type { ResourceSql } from './sql.js';

const log = logger('storage-resources');

interface Pending {
  fn: (ctx: CallContext) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class CallQueue {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly sql: ResourceSql,
    private readonly state: StoreState,
    private readonly clock: () => number,
    private readonly publish: (events: AlertEvent[]) => void,
  ) {}

  enqueue<T>(fn: (ctx: CallContext) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.drain());
      }
    });
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.pending.splice(0);
    const outcomes: ({ ok: true; value: unknown; ctx: CallContext } | { ok: false; error: unknown })[] = [];
    try {
      this.sql.transaction(() => {
        for (const p of batch) {
          const ctx: CallContext = {
            sql: this.sql,
            state: this.state,
            now: this.clock(),
            undo: [],
            events: [],
          };
          try {
            outcomes.push({ ok: true, value: this.sql.transaction(() => p.fn(ctx)), ctx });
          } catch (error) {
            undoAll(ctx);
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The shared commit failed: nothing of the batch is on disk.
      log.error('resource store commit failed', { error: String(error) });
      for (let i = outcomes.length - 1; i >= 0; i--) {
        const o = outcomes[i];
        if (o.ok) undoAll(o.ctx);
      }
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      const o = outcomes[i];
      if (o.ok) {
        this.publish(o.ctx.events);
        p.resolve(o.value);
      } else p.reject(o.error);
    });
  }
}

function undoAll(ctx: CallContext) {
  for (let i = ctx.undo.length - 1; i >= 0; i--) ctx.undo[i]();
  ctx.undo.length = 0;
}
