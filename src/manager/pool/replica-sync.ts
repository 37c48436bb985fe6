// The two ends of replication over the wire (the dump format and its application are in
// replica.ts): the master's long poll, which answers once its database changed after a
// generation, and the slave's follower loop, which keeps asking its master and applies each answer.
import { logger } from '../../shared/log.js';
import type { Database } from '../db/database.js';
import { type PeerEndpoint, postInternal } from './peer.js';
import { applyDump, type DbDump } from './replica.js';

const log = logger('replica');

/** How long the master holds a replica's request while nothing changes. */
export const REPLICA_WAIT_MS = 20_000;

/** Resolves once `db` moved past generation `since`, after waitMs, or when `signal` aborts. */
export function changeAfter(db: Database, since: number, waitMs: number, signal: AbortSignal): Promise<void> {
  if (since < db.currentGeneration || waitMs <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      off();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, waitMs);
    const off = db.onCommit(done);
    signal.addEventListener('abort', done);
  });
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
        applyDump(this.db, dump);
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
