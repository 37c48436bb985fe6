// The manager's half of crash safety. Before asking a host to create or delete a volume the
// manager writes an intent (durably); it removes it once the database reflects the result. On
// start-up every intent left over is resolved against the database: a volume created for a VDI
// the database never recorded is deleted, a delete that never finished is finished.
import { Journal, type Intent } from '../../shared/journal.js';
import type { Services } from '../api/context.js';

export interface VolumeIntent {
  /** 'create' (create/clone/snapshot/copy) or 'destroy'. */
  kind: 'create' | 'destroy';
  srUuid: string;
  location: string;
  vdiUuid: string;
}

export class StorageIntents {
  private readonly journal: Journal;
  /** Locations being created right now: a concurrent SR.scan must not introduce them. */
  readonly inFlight = new Set<string>();
  constructor(dir: string) {
    this.journal = new Journal(dir);
  }
  begin(v: VolumeIntent): Intent {
    this.inFlight.add(`${v.srUuid}/${v.location}`);
    return this.journal.begin(v.kind, { ...v });
  }
  end(i: Intent) {
    this.inFlight.delete(`${i.srUuid}/${i.location}`);
    this.journal.end(i);
  }
  pending(): (Intent & VolumeIntent)[] {
    return this.journal.pending() as (Intent & VolumeIntent)[];
  }
  drop(i: Intent) {
    this.journal.end(i);
  }
}

/** Runs `fn` between a durable intent and its removal (no journal configured: just runs it). */
export async function withIntent<T>(svc: Services, v: VolumeIntent, fn: () => Promise<T>): Promise<T> {
  const j = svc.storageIntents;
  const i = j?.begin(v);
  try {
    return await fn();
  } finally {
    // On failure the intent stays only if the process dies; a clean failure has already
    // rolled itself back (see callers), so the record can go.
    if (i) j!.end(i);
  }
}
