// In-process plugin locks. Upstream uses flock files in /var/run; in Berth every plugin call goes
// through the one agent process, so the locks live in memory and cannot go stale after a crash.
import { PluginFailure } from './failure.js';

/** Non-blocking per-plugin lock (xcpngutils OperationLocker): a second caller fails at once. */
export class BusyLock {
  private held = false;

  async with<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held) throw new PluginFailure('-1', 'The plugin is busy.');
    this.held = true;
    try {
      return await fn();
    } finally {
      this.held = false;
    }
  }

  get locked(): boolean {
    return this.held;
  }
}

interface Waiter {
  op: string;
  grant: () => void;
}

/**
 * The updater's operation lock: it remembers which operation holds it; a caller with a wait
 * time queues for at most that long, except that an update never waits behind another update.
 */
export class OperationLock {
  private current: string | null = null;
  private readonly waiters: Waiter[] = [];

  get operation(): string | null {
    return this.current;
  }

  private busy(): PluginFailure {
    return new PluginFailure(
      '-1',
      `The updater plugin is busy (current operation: ${this.current || '<UNKNOWN>'})`,
    );
  }

  /** Resolves with a release function once `op` holds the lock. */
  acquire(op: string, waitMs: number): Promise<() => void> {
    if (this.current === null) {
      this.current = op;
      return Promise.resolve(this.releaser());
    }
    if (waitMs <= 0) return Promise.reject(this.busy());
    if (op === 'update' && this.current === 'update') {
      return Promise.reject(new PluginFailure('-1', 'Update already in progress'));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        op,
        grant: () => {
          clearTimeout(timer);
          resolve(this.releaser());
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(this.busy());
      }, waitMs);
      this.waiters.push(waiter);
    });
  }

  async with<T>(op: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(op, waitMs);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      this.current = next ? next.op : null;
      next?.grant();
    };
  }
}

/** The locks of one plugin host, created on first use. */
export class LockTable {
  private readonly busyLocks = new Map<string, BusyLock>();
  readonly updater = new OperationLock();

  busy(plugin: string): BusyLock {
    let l = this.busyLocks.get(plugin);
    if (!l) {
      l = new BusyLock();
      this.busyLocks.set(plugin, l);
    }
    return l;
  }
}
