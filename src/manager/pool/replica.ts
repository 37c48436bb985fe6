// The slaves' copy of the pool database. xapi's slaves fetch a backup of the master's database
// (pool_db_backup.ml) so that emergency_transition_to_master has one. Berth's slaves follow the
// master continuously instead: they long-poll the master's internal /pool/db endpoint with the
// master generation they last applied and receive the rows changed since (or everything, when the
// master's change log no longer reaches back or the master changed), which they apply to their
// own store in one transaction. Sessions and tasks are per host and are not copied.
import type { Database, Row } from '../db/database.js';
import { linkChildren } from './bundle.js';

/** Per-host classes: never copied between pool members. */
export const LOCAL_CLASSES = new Set(['session', 'task']);

export interface DbDump {
  /** The master database's generation the dump is current to. */
  generation: number;
  /** Identifies the master database: a different one means the generation restarts. */
  master: string;
  /** True when `rows` is everything (the replica drops whatever is not in it). */
  full: boolean;
  rows: { cls: string; ref: string; record: Row }[];
  deletes: { cls: string; ref: string }[];
}

function replicated(db: Database): string[] {
  return db.storedClasses().filter((c) => !LOCAL_CLASSES.has(c));
}

/** What changed in the master's database after generation `since` (everything if since < 0). */
export function dumpSince(db: Database, since: number, masterId: string): DbDump {
  const changes = since < 0 ? undefined : db.changesSince(since);
  const generation = db.currentGeneration;
  if (!changes) {
    const rows: DbDump['rows'] = [];
    for (const cls of replicated(db))
      for (const [ref, record] of db.all(cls)) rows.push({ cls, ref, record });
    return { generation, master: masterId, full: true, rows, deletes: [] };
  }
  const last = new Map<string, string>();
  for (const c of changes) if (!LOCAL_CLASSES.has(c.cls)) last.set(c.ref, c.cls);
  const rows: DbDump['rows'] = [];
  const deletes: DbDump['deletes'] = [];
  for (const [ref, cls] of last) {
    const record = db.get(cls, ref);
    if (record) rows.push({ cls, ref, record });
    else deletes.push({ cls, ref });
  }
  return { generation, master: masterId, full: false, rows, deletes };
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** Applies a dump to a replica in one transaction; afterwards its rows equal the master's. */
export function applyDump(db: Database, dump: DbDump): void {
  db.transaction(() => {
    if (dump.full) {
      const keep = new Set(dump.rows.map((r) => r.ref));
      for (const cls of replicated(db))
        for (const ref of [...db.all(cls).keys()]) if (!keep.has(ref)) db.destroy(cls, ref);
    }
    for (const d of dump.deletes) if (db.has(d.cls, d.ref)) db.destroy(d.cls, d.ref);
    const created: DbDump['rows'] = [];
    for (const r of dump.rows) {
      if (!db.model.classes[r.cls]?.inDb || LOCAL_CLASSES.has(r.cls)) continue;
      const uuid = r.record.uuid;
      const clash = typeof uuid === 'string' ? db.refByUuid(r.cls, uuid) : undefined;
      if (clash && clash !== r.ref) db.destroy(r.cls, clash);
      const row = db.get(r.cls, r.ref);
      if (!row) {
        db.create(r.cls, r.record, r.ref);
        created.push(r);
        continue;
      }
      const changes: Row = {};
      for (const [k, v] of Object.entries(r.record)) if (!sameValue(row[k], v)) changes[k] = v;
      if (Object.keys(changes).length) db.update(r.cls, r.ref, changes);
    }
    linkChildren(db, created);
    // List fields exactly as on the master (children created before their parent are linked above).
    for (const r of created) {
      const row = db.get(r.cls, r.ref)!;
      const changes: Row = {};
      for (const rel of db.model.classes[r.cls].relations) {
        const v = r.record[rel.field];
        if (v !== undefined && !sameValue(row[rel.field], v)) changes[rel.field] = v;
      }
      if (Object.keys(changes).length) db.update(r.cls, r.ref, changes);
    }
  });
}
