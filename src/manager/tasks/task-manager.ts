// XenAPI tasks: records of asynchronous (and long synchronous) calls. A task is created pending,
// carries progress, and settles once as success (with its result as an XML-RPC <value> fragment,
// even for JSON-RPC clients, as xapi does), failure (error_info) or cancelled.
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError, internalError, isXenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { Database } from '../db/database.js';
import { EPOCH_XAPI, nowXapi, parseXapiTime } from '../time.js';

const log = logger('tasks');

export interface TaskOptions {
  description?: string;
  subtaskOf?: string;
  otherConfig?: Record<string, string>;
  /** Session that created it (ownership for cancel/destroy). */
  session?: string;
  userName?: string;
  /**
   * The task of a sync call, living only for the call: its row is a deferred write (stored with
   * the next durable commit, see Database.deferred), as a restart voids it anyway.
   */
  transient?: boolean;
}

export interface TaskLimits {
  maxPending: number;
  completedTtlMs: number;
  pendingTtlMs: number;
  maxTasks: number;
}

export const DEFAULT_TASK_LIMITS: TaskLimits = {
  maxPending: 1000,
  completedTtlMs: 3900_000,
  pendingTtlMs: 86400_000,
  maxTasks: 200,
};

/** The handle an operation gets: progress reporting and cooperative cancellation. */
export interface TaskHandle {
  ref: string;
  signal: AbortSignal;
  setProgress(p: number): void;
  /** Throws TASK_CANCELLED if cancellation was requested. */
  checkCancelled(): void;
}

interface Running {
  controller: AbortController;
  session?: string;
  userName?: string;
  lastProgress: number;
  lastProgressChange: number;
}

export class TaskManager {
  private readonly running = new Map<string, Running>();
  private readonly owners = new Map<string, { session?: string; userName?: string }>();
  private readonly destroyWhenDone = new Set<string>();
  private gcTimer?: NodeJS.Timeout;

  constructor(
    private readonly db: Database,
    private readonly hostRef: () => string,
    /** Encodes a result as the XML-RPC <value> fragment stored in task.result. */
    private readonly encodeResult: (value: unknown, wire: string) => string,
    readonly limits: TaskLimits = DEFAULT_TASK_LIMITS,
  ) {}

  /** Tasks left pending by a previous run cannot finish any more: fail them with a clear reason. */
  recoverAfterRestart(): number {
    let n = 0;
    this.db.transaction(() => {
      for (const [ref, row] of this.db.all('task')) {
        if (row.status === 'pending' || row.status === 'cancelling') {
          this.db.update('task', ref, {
            status: 'failure',
            progress: 1,
            finished: nowXapi(),
            allowed_operations: [],
            error_info: [
              'INTERNAL_ERROR',
              'The Berth manager restarted while this task was running; its outcome is unknown.',
            ],
          });
          n++;
        }
      }
    });
    if (n) log.warn('failed tasks left pending by the previous run', { count: n });
    return n;
  }

  startGc(intervalMs = 30_000) {
    this.gcTimer = setInterval(() => this.gc(), intervalMs);
    this.gcTimer.unref();
  }

  stop() {
    if (this.gcTimer) clearInterval(this.gcTimer);
    for (const r of this.running.values()) r.controller.abort();
  }

  pendingCount(): number {
    return this.running.size;
  }

  /** Is this task running in this process (its operations still in progress)? */
  isRunning(ref: string): boolean {
    return this.running.has(ref);
  }

  isBusySession(session: string): boolean {
    for (const r of this.running.values()) if (r.session === session) return true;
    return false;
  }

  create(label: string, opts: TaskOptions = {}): string {
    if (this.running.size >= this.limits.maxPending) throw new XenApiError('TOO_MANY_PENDING_TASKS', []);
    const create = (fields: Record<string, unknown>) =>
      opts.transient
        ? this.db.deferred(() => this.db.create('task', fields))
        : this.db.create('task', fields);
    const ref = create({
      name_label: label,
      name_description: opts.description ?? '',
      allowed_operations: ['cancel'],
      current_operations: {},
      created: nowXapi(),
      finished: EPOCH_XAPI,
      status: 'pending',
      resident_on: this.hostRef(),
      progress: 0,
      type: '<none/>',
      result: '',
      error_info: [],
      other_config: opts.otherConfig ?? {},
      subtask_of: opts.subtaskOf && this.db.has('task', opts.subtaskOf) ? opts.subtaskOf : NULL_REF,
      backtrace: '()',
    });
    this.running.set(ref, {
      controller: new AbortController(),
      session: opts.session,
      userName: opts.userName,
      lastProgress: 0,
      lastProgressChange: Date.now(),
    });
    this.owners.set(ref, { session: opts.session, userName: opts.userName });
    return ref;
  }

  handle(ref: string): TaskHandle {
    const r = this.running.get(ref);
    const signal = r?.controller.signal ?? new AbortController().signal;
    return {
      ref,
      signal,
      setProgress: (p) => this.setProgress(ref, p),
      checkCancelled: () => {
        if (signal.aborted) throw new XenApiError('TASK_CANCELLED', [ref]);
      },
    };
  }

  setProgress(ref: string, progress: number) {
    const r = this.running.get(ref);
    if (!r || !this.db.has('task', ref)) return;
    const p = Math.max(0, Math.min(1, progress));
    if (p === r.lastProgress) return;
    r.lastProgress = p;
    r.lastProgressChange = Date.now();
    this.db.update('task', ref, { progress: p });
  }

  /** Runs `op` under the task and settles it; never throws. */
  async run(ref: string, wire: string, op: (h: TaskHandle) => Promise<unknown>): Promise<void> {
    try {
      const value = await op(this.handle(ref));
      this.succeed(ref, this.encodeResult(value, wire));
    } catch (e) {
      this.fail(ref, e);
    }
  }

  succeed(ref: string, resultXml: string) {
    this.settle(ref, { status: 'success', result: resultXml });
  }

  fail(ref: string, e: unknown) {
    const err = isXenApiError(e) ? e : internalError(e instanceof Error ? e.message : String(e));
    if (!isXenApiError(e)) log.error('task failed with an internal error', { task: ref, error: String(e) });
    this.settle(ref, {
      status: err.code === 'TASK_CANCELLED' ? 'cancelled' : 'failure',
      error_info: err.description,
    });
  }

  private settle(ref: string, fields: Record<string, unknown>) {
    this.running.delete(ref);
    if (!this.db.has('task', ref)) return;
    this.db.update('task', ref, {
      ...fields,
      progress: 1,
      finished: nowXapi(),
      allowed_operations: [],
      current_operations: {},
    });
    if (this.destroyWhenDone.delete(ref)) this.destroyNow(ref);
  }

  /** May this session cancel/destroy the task? Owner, or holder of task.destroy/any. */
  ownedBy(ref: string, session: string, userName: string): boolean {
    const o = this.owners.get(ref);
    return !o || o.session === session || (o.userName !== undefined && o.userName === userName);
  }

  cancel(ref: string, byTask?: string) {
    const row = this.db.mustGet('task', ref);
    const r = this.running.get(ref);
    if (!r || row.status !== 'pending') return; // completed tasks: no effect, no error
    this.db.update('task', ref, { current_operations: { [byTask ?? ref]: 'cancel' } });
    r.controller.abort();
  }

  /** Destroys a completed task now; a pending one is destroyed when it completes. */
  destroy(ref: string) {
    const row = this.db.mustGet('task', ref);
    if (row.status === 'pending' && this.running.has(ref)) {
      this.destroyWhenDone.add(ref);
      this.db.update('task', ref, {
        current_operations: { ...(row.current_operations as object), [ref]: 'destroy' },
      });
      return;
    }
    this.destroyNow(ref);
  }

  /** Ends and deletes the task of a sync call (it existed only for the call's duration). */
  discard(ref: string) {
    this.db.deferred(() => this.destroyNow(ref));
  }

  private destroyNow(ref: string) {
    this.running.delete(ref);
    this.owners.delete(ref);
    if (this.db.has('task', ref)) this.db.destroy('task', ref);
  }

  gc(now = Date.now()) {
    const completed: [string, number][] = [];
    this.db.transaction(() => {
      for (const [ref, row] of [...this.db.all('task')]) {
        const running = this.running.get(ref);
        if (row.status === 'pending') {
          // Client-managed tasks (task.create) are pending with no runner: expire after 24 h idle.
          const created = parseXapiTime(String(row.created));
          const last = running?.lastProgressChange ?? created;
          if (now - last > this.limits.pendingTtlMs) this.destroyNow(ref);
          continue;
        }
        const finished = parseXapiTime(String(row.finished));
        if (now - finished > this.limits.completedTtlMs) this.destroyNow(ref);
        else completed.push([ref, finished]);
      }
      const excess = this.db.count('task') - this.limits.maxTasks;
      if (excess > 0) {
        completed.sort((a, b) => a[1] - b[1]);
        for (const [ref] of completed.slice(0, excess)) this.destroyNow(ref);
      }
    });
  }

  /**
   * Takes over a pending client-managed task (task.create) for work running in this process (a
   * data-plane HTTP request named it by `task_id`): from now on it is running, `cancel` aborts
   * the returned handle's signal, and `succeed`/`fail` settle it. Throws if it is not pending
   * or already running.
   */
  adopt(ref: string, opts: { session?: string; userName?: string } = {}): TaskHandle {
    const row = this.db.mustGet('task', ref);
    if (row.status !== 'pending' || this.running.has(ref))
      throw new XenApiError('OPERATION_NOT_ALLOWED', [`task ${ref} is not a pending task free to be taken`]);
    const owner = this.owners.get(ref);
    this.running.set(ref, {
      controller: new AbortController(),
      session: owner?.session ?? opts.session,
      userName: owner?.userName ?? opts.userName,
      lastProgress: 0,
      lastProgressChange: Date.now(),
    });
    // Progress 0 says the work has taken the task (xapi's CLI pre-sets -1 to see that).
    this.db.update('task', ref, { allowed_operations: ['cancel'], progress: 0 });
    return this.handle(ref);
  }

  /**
   * Gives an adopted task back to its client unsettled (the work went elsewhere, e.g. an HTTP
   * redirect to another pool member): pending, no longer running here.
   */
  release(ref: string) {
    if (!this.running.delete(ref) || !this.db.has('task', ref)) return;
    this.db.update('task', ref, { allowed_operations: [] });
  }

  /** Registers a client-managed task (task.create): pending until the client settles it. */
  createClientTask(label: string, description: string, session: string, userName: string): string {
    const ref = this.create(label, { description, session, userName });
    // No runner: it is not counted as an operation in progress.
    this.running.delete(ref);
    this.db.update('task', ref, { allowed_operations: [] });
    return ref;
  }
}
