// A mutex with a wait limit: Ganeti's restricted-commands lock file (blocking, 8 s timeout). Every
// restricted command goes through the one agent process, so the lock lives in memory.

export class TimedLock {
  private tail: Promise<void> = Promise.resolve();

  /**
   * Runs `fn` once every earlier holder released the lock; rejects with `onTimeout()` if that
   * takes longer than `waitMs` (fn then never runs).
   */
  async with<T>(waitMs: number, onTimeout: () => Error, fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const before = this.tail;
    this.tail = before.then(() => mine);
    let timer: NodeJS.Timeout | undefined;
    const acquired = await Promise.race([
      before.then(() => true),
      new Promise<false>((r) => {
        timer = setTimeout(() => r(false), waitMs);
      }),
    ]);
    clearTimeout(timer);
    if (!acquired) {
      // Our turn still comes after `before`: pass it on at once.
      void before.then(release);
      throw onTimeout();
    }
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
