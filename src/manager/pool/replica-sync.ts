// The two ends of replication over the wire (the dump format and its application are in
// replica.ts): the master's long poll, which answers once its database changed after a
// generation, and the slave's follower loop, which keeps asking its master and applies each answer.
import { logger } from '../../shared/log.js';
import type { Change, Database } from '../db/database.js';
import { type PeerEndpoint, postInternal } from './peer.js';
import { applyDump, type DbDump, dumpSince, LOCAL_CLASSES } from './replica.js';

const log = logger('replica');

/** How long the master holds a replica's request while nothing changes. */
export const REPLICA_WAIT_MS = 20_000;

/**
 * How long the master gathers changes before answering the replicas' polls. Every slave polls
 * the master, so answering each write at once made every write cost 15 encodings and 15 replies
 * on a pool of 16 (bench:pool): a burst of writes now reaches every slave as one dump, within
 * this delay, and the slaves polling from the same generation share one encoding.
 */
export const REPLICA_COALESCE_MS = 100;

/** A reply body encoded once and sent as is to every replica asking for the same range. */
export class EncodedReply {
  constructor(readonly body: Buffer) {}
}

/** True when a change log slice holds anything replicated (or the log no longer reaches back). */
function replicatedChange(changes: readonly Change[] | undefined): boolean {
  return !changes || changes.some((c) => !LOCAL_CLASSES.has(c.cls));
}

/**
 * The master's side of the replicas' long polls (/pool/db). A poll waits until the database holds
 * a replicated change after its generation (sessions and tasks wake nobody), then, with every
 * other waiting poll, until the next coalescing tick, so one tick answers all slaves; the answer
 * for a (since, generation) pair is encoded once and shared between the slaves that ask for it.
 */
export class ReplicaPublisher {
  private readonly waiters = new Set<() => void>();
  private tick?: NodeJS.Timeout;
  private readonly encoded = new Map<number, Buffer>();
  private encodedAt = -1;
  /** How many dumps were encoded (each is then shared by every poll with the same since). */
  encodings = 0;
  private readonly off: () => void;

  constructor(
    private readonly db: Database,
    private readonly masterId: string,
    private readonly coalesceMs = REPLICA_COALESCE_MS,
  ) {
    this.off = db.onCommit((changes) => {
      if (this.waiters.size && replicatedChange(changes)) this.schedule();
    });
  }

  close(): void {
    this.off();
    clearTimeout(this.tick);
    for (const w of [...this.waiters]) w();
  }

  /**
   * The reply to a poll from generation `since` (everything when since < 0, answered at once),
   * after at most waitMs without a change; undefined when `signal` aborted meanwhile.
   */
  async answer(since: number, waitMs: number, signal: AbortSignal): Promise<EncodedReply | undefined> {
    if (since >= 0 && waitMs > 0) {
      if (replicatedChange(this.db.changesSince(since))) this.schedule();
      await this.wait(waitMs, signal);
    }
    if (signal.aborted) return undefined;
    return new EncodedReply(this.encode(since));
  }

  private schedule() {
    if (this.tick) return;
    this.tick = setTimeout(() => {
      this.tick = undefined;
      const ready = [...this.waiters];
      this.waiters.clear();
      for (const w of ready) w();
    }, this.coalesceMs);
  }

  private wait(waitMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.waiters.add(done);
      signal.addEventListener('abort', done);
    });
  }

  private encode(since: number): Buffer {
    const key = since < 0 ? -1 : since;
    if (this.encodedAt !== this.db.currentGeneration) {
      this.encoded.clear();
      this.encodedAt = this.db.currentGeneration;
    }
    let body = this.encoded.get(key);
    if (!body) {
      body = Buffer.from(JSON.stringify({ ok: dumpSince(this.db, key, this.masterId) }));
      this.encodings++;
      this.encoded.set(key, body);
    }
    return body;
  }
}

/**
 * Applies a dump the follower received. A full one is committed durably; incremental ones reach
 * the disk within DEFERRED_FLUSH_MS (one fsync per second at most instead of one per master
 * write): a restarted follower starts again from a full dump, so a crash loses nothing it keeps.
 */
export function applyFollowed(db: Database, dump: DbDump): void {
  if (dump.full) applyDump(db, dump);
  else db.deferred(() => applyDump(db, dump));
}

/** A slave's loop: long-polls the master's /pool/db and applies each dump, until stopped. */
export class ReplicaFollower {
  private readonly ctl = new AbortController();
  /** When a dump from the master was last applied. */
  lastSync?: Date;

  constructor(
    private readonly db: Database,
    private readonly endpoint: () => PeerEndpoint,
    private readonly master: string,
    private readonly headers: () => Record<string, string>,
  ) {
    void this.loop();
  }

  stop(): void {
    this.ctl.abort();
  }

  private async loop() {
    const { signal } = this.ctl;
    let since = -1;
    let masterId: string | undefined;
    while (!signal.aborted) {
      try {
        const body = { since, master: masterId, waitMs: REPLICA_WAIT_MS };
        const timeout = 2 * REPLICA_WAIT_MS;
        const dump = await postInternal<DbDump>(
          this.endpoint(),
          this.master,
          '/pool/db',
          body,
          this.headers(),
          timeout,
          signal,
        );
        if (signal.aborted) return;
        applyFollowed(this.db, dump);
        since = dump.generation;
        masterId = dump.master;
        this.lastSync = new Date();
      } catch (e) {
        if (signal.aborted) return;
        log.debug('master not reachable', { master: this.master, error: String(e) });
        await new Promise((r) => setTimeout(r, 1000).unref());
      }
    }
  }
}
