// The in-memory object database. Every read is served from memory; every write happens inside a
// synchronous transaction that is applied to memory at once (so the transaction reads its own
// writes), persisted by the backend as one batch at commit, and rolled back in memory if the
// transaction or the backend fails. Each change gets a generation number; the change log feeds
// event.from / event.next.
import { randomUUID } from 'node:crypto';
import type { ClassSpec, Model } from '../../shared/datamodel/model-types.js';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import type { StoreBackend, WriteOp } from './backend.js';

export type Row = Record<string, unknown>;
export type ChangeOp = 'add' | 'mod' | 'del';

export interface Change {
  gen: number;
  cls: string;
  ref: string;
  op: ChangeOp;
  /** Pre-deletion record, kept for `del` (the legacy event.next sends it). */
  snapshot?: Row;
}

interface ObjectMeta {
  cls: string;
  created: number;
  modified: number;
}

/** One-to-many link: setting `field` on an object of `cls` updates `manyField` on the target. */
interface Backlink {
  manyClass: string;
  manyField: string;
}

export const newRef = () => `OpaqueRef:${randomUUID()}`;

/**
 * Each live row carries its last-change generation under this (non-enumerable) key, so encoders
 * can cache a row's serialised form until it changes.
 */
export const ROW_VERSION: unique symbol = Symbol('berth.rowVersion');

export function rowVersion(row: Row): number | undefined {
  return (row as Record<symbol, number>)[ROW_VERSION];
}

function setRowVersion(row: Row, gen: number) {
  Object.defineProperty(row, ROW_VERSION, {
    value: gen,
    writable: true,
    enumerable: false,
    configurable: true,
  });
}

const MAX_CHANGE_LOG = 200_000;

/**
 * The generation stored on disk runs this far ahead of the last one handed out, so that after a
 * crash that lost deferred writes (see Database.deferred) the restart generation still exceeds
 * every event token clients saw. A deferred write that would pass the stored ceiling flushes.
 */
const GENERATION_HEADROOM = 100_000;

/** Deferred writes reach the disk with the next durable commit, or after this long. */
export const DEFERRED_FLUSH_MS = 1000;

/**
 * One write per row: consecutive updates of a row merge into its first update, and updates of a
 * row inserted earlier in the batch are dropped (an insert stores the live row as it is when the
 * batch is applied, so it already holds them). Applying the result leaves the store exactly as
 * applying `ops` in order would: rows are independent (no foreign keys in the store).
 */
export function coalesceWrites(ops: readonly WriteOp[]): WriteOp[] {
  const out: WriteOp[] = [];
  const mergeInto = new Map<string, number>();
  for (const op of ops) {
    const key = `${op.cls}\u0000${op.ref}`;
    if (op.op === 'update') {
      const i = mergeInto.get(key);
      const prev = i === undefined ? undefined : out[i];
      if (prev?.op === 'insert') continue;
      if (prev?.op === 'update') {
        out[i!] = { ...prev, changes: { ...prev.changes, ...op.changes } };
        continue;
      }
      mergeInto.set(key, out.length);
      out.push(op);
    } else {
      if (op.op === 'insert') mergeInto.set(key, out.length);
      else mergeInto.delete(key);
      out.push(op);
    }
  }
  return out;
}

export class Database {
  readonly model: Model;
  private readonly backend: StoreBackend;
  private readonly tables = new Map<string, Map<string, Row>>();
  private readonly uuids = new Map<string, Map<string, string>>();
  private readonly meta = new Map<string, ObjectMeta>();
  /** cls → field → backlink, for the "one" side of each relation (e.g. VBD → VM → VM.VBDs). */
  private readonly backlinks = new Map<string, Map<string, Backlink>>();
  private generation = 0;
  private log: Change[] = [];
  /** Generation of the oldest change still in the log (older tokens need a full scan). */
  private logStart = 0;
  private tx: { ops: WriteOp[]; undo: (() => void)[]; changes: Change[] } | null = null;
  /** Writes of committed deferred transactions not yet on disk, in commit order. */
  private pending: WriteOp[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** The generation last stored (with its headroom): deferred writes may not pass it. */
  private storedCeiling = 0;
  private readonly listeners = new Set<(changes: readonly Change[]) => void>();
  /** Called before every write with the class written; throws to refuse it (a pool's write fence). */
  writeGuard?: (cls: string) => void;

  constructor(model: Model, backend: StoreBackend) {
    this.model = model;
    this.backend = backend;
    for (const c of Object.values(model.classes)) {
      if (!c.inDb) continue;
      this.tables.set(c.name, new Map());
      this.uuids.set(c.name, new Map());
      for (const r of c.relations) {
        let m = this.backlinks.get(r.otherClass);
        if (!m) this.backlinks.set(r.otherClass, (m = new Map()));
        m.set(r.otherField, { manyClass: c.name, manyField: r.field });
      }
    }
    this.generation = Number(backend.getMeta('generation') ?? 0);
    this.storedCeiling = this.generation;
    // Objects loaded from disk count as changed at the restart generation: any token from before
    // the restart then sees every object as `mod`, which is correct if conservative.
    const start = ++this.generation;
    this.logStart = start + 1;
    for (const { cls, ref, record } of backend.loadAll()) {
      const spec = model.classes[cls];
      const row = this.withDefaults(spec, record);
      this.tables.get(cls)!.set(ref, row);
      if (typeof row.uuid === 'string') this.uuids.get(cls)!.set(row.uuid, ref);
      this.meta.set(ref, { cls, created: start, modified: start });
      setRowVersion(row, start);
    }
    for (const [cls, links] of this.backlinks) {
      for (const [ref, row] of this.tables.get(cls) ?? []) {
        for (const [field, link] of links) this.linkAdd(link, row[field] as string, ref, false);
      }
    }
  }

  // ---------- reads ----------

  get currentGeneration(): number {
    return this.generation;
  }

  classSpec(cls: string): ClassSpec {
    const spec = this.model.classes[cls];
    if (!spec) throw new Error(`unknown class ${cls}`);
    return spec;
  }

  /** The live record (treat as read-only), or undefined. */
  get(cls: string, ref: string): Row | undefined {
    return this.tables.get(cls)?.get(ref);
  }

  /** The live record, or HANDLE_INVALID [cls, ref] as xapi raises it. */
  mustGet(cls: string, ref: string): Row {
    const row = this.tables.get(cls)?.get(ref);
    if (!row) throw new XenApiError('HANDLE_INVALID', [cls, ref]);
    return row;
  }

  has(cls: string, ref: string): boolean {
    return this.tables.get(cls)?.has(ref) ?? false;
  }

  all(cls: string): Map<string, Row> {
    const t = this.tables.get(cls);
    if (!t) throw new Error(`class ${cls} is not stored`);
    return t;
  }

  count(cls: string): number {
    return this.tables.get(cls)?.size ?? 0;
  }

  refByUuid(cls: string, uuid: string): string | undefined {
    return this.uuids.get(cls)?.get(uuid);
  }

  classOfRef(ref: string): string | undefined {
    return this.meta.get(ref)?.cls;
  }

  objectGenerations(ref: string): { created: number; modified: number } | undefined {
    return this.meta.get(ref);
  }

  storedClasses(): string[] {
    return [...this.tables.keys()];
  }

  /** Changes with gen > since, or undefined when the log no longer reaches back that far. */
  changesSince(since: number): readonly Change[] | undefined {
    if (since + 1 < this.logStart) return undefined;
    // The log is ordered by gen: binary search for the first entry after `since`.
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid].gen <= since) lo = mid + 1;
      else hi = mid;
    }
    return this.log.slice(lo);
  }

  onCommit(listener: (changes: readonly Change[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---------- writes ----------

  /**
   * Runs `fn` as one transaction: all its writes commit durably together, or none do. Writes
   * still pending from deferred transactions are stored in the same batch, before this one's.
   */
  transaction<T>(fn: () => T): T {
    return this.run(fn, false);
  }

  /**
   * Runs `fn` as a transaction that is applied in memory and published at once, but whose writes
   * reach the disk with the next durable commit (or within DEFERRED_FLUSH_MS): for bookkeeping
   * that a restart voids anyway, such as the operations in progress on a VM. Inside another
   * transaction it simply joins it. A crash may lose these writes, never reorder them.
   */
  deferred<T>(fn: () => T): T {
    return this.run(fn, true);
  }

  /** Stores the pending deferred writes now (before closing the backend, in tests). */
  flush(): void {
    if (this.tx) throw new Error('flush inside a transaction');
    if (this.pending.length > 0) this.persist([]);
  }

  private run<T>(fn: () => T, deferred: boolean): T {
    if (this.tx) return fn();
    const tx = { ops: [] as WriteOp[], undo: [] as (() => void)[], changes: [] as Change[] };
    const genBefore = this.generation;
    this.tx = tx;
    let result: T;
    try {
      result = fn();
      if (result instanceof Promise) throw new Error('database transactions must be synchronous');
      if (tx.ops.length > 0 || tx.changes.length > 0) {
        if (deferred && this.generation < this.storedCeiling) this.defer(tx.ops);
        else this.persist(tx.ops);
      }
    } catch (e) {
      for (let i = tx.undo.length - 1; i >= 0; i--) tx.undo[i]();
      this.generation = genBefore;
      this.tx = null;
      throw e;
    }
    this.tx = null;
    if (tx.changes.length) this.publish(tx.changes);
    return result;
  }

  private defer(ops: WriteOp[]) {
    for (const op of ops) this.pending.push(op);
    if (!this.flushTimer && this.pending.length > 0) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        // A timer never runs inside a transaction (transactions are synchronous).
        if (this.pending.length > 0) {
          try {
            this.persist([]);
          } catch {
            // Kept pending: the next durable commit stores them or fails visibly.
          }
        }
      }, DEFERRED_FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  /** Stores pending deferred writes and `ops` as one batch, one write per row. */
  private persist(ops: WriteOp[]) {
    const ceiling = this.generation + GENERATION_HEADROOM;
    this.backend.apply(coalesceWrites(this.pending.length ? [...this.pending, ...ops] : ops), {
      generation: String(ceiling),
    });
    this.storedCeiling = ceiling;
    this.pending = [];
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
  }

  /** Creates an object; fills defaults, a uuid (unless given) and returns its ref. */
  create(cls: string, fields: Row, ref: string = newRef()): string {
    return this.transaction(() => {
      this.writeGuard?.(cls);
      const spec = this.classSpec(cls);
      const table = this.tables.get(cls);
      if (!table) throw new Error(`class ${cls} is not stored`);
      const row = this.withDefaults(spec, fields);
      if (spec.fields.some((f) => f.name === 'uuid') && !row.uuid) row.uuid = randomUUID();
      for (const r of spec.relations) row[r.field] = [];
      const uuid = row.uuid as string | undefined;
      if (uuid !== undefined && this.uuids.get(cls)!.has(uuid)) {
        throw new XenApiError('DB_UNIQUENESS_CONSTRAINT_VIOLATION', [cls, 'uuid', uuid]);
      }
      table.set(ref, row);
      if (uuid !== undefined) this.uuids.get(cls)!.set(uuid, ref);
      const gen = this.bump();
      setRowVersion(row, gen);
      this.meta.set(ref, { cls, created: gen, modified: gen });
      this.tx!.undo.push(() => {
        table.delete(ref);
        if (uuid !== undefined) this.uuids.get(cls)!.delete(uuid);
        this.meta.delete(ref);
      });
      this.tx!.ops.push({ op: 'insert', cls, ref, record: row });
      this.tx!.changes.push({ gen, cls, ref, op: 'add' });
      const links = this.backlinks.get(cls);
      if (links) for (const [field, link] of links) this.linkAdd(link, row[field] as string, ref, true);
      return ref;
    });
  }

  /** Sets fields of an object (only those given). */
  update(cls: string, ref: string, changes: Row): void {
    this.transaction(() => {
      this.writeGuard?.(cls);
      const row = this.mustGet(cls, ref);
      const before: Row = {};
      for (const k of Object.keys(changes)) before[k] = row[k];
      Object.assign(row, changes);
      this.tx!.undo.push(() => Object.assign(row, before));
      if (changes.uuid !== undefined && changes.uuid !== before.uuid) {
        const idx = this.uuids.get(cls)!;
        idx.delete(before.uuid as string);
        idx.set(changes.uuid as string, ref);
        this.tx!.undo.push(() => {
          idx.delete(changes.uuid as string);
          idx.set(before.uuid as string, ref);
        });
      }
      this.tx!.ops.push({ op: 'update', cls, ref, changes: { ...changes } });
      this.markModified(cls, ref);
      const links = this.backlinks.get(cls);
      if (links) {
        for (const [field, link] of links) {
          if (field in changes && changes[field] !== before[field]) {
            this.linkRemove(link, before[field] as string, ref);
            this.linkAdd(link, changes[field] as string, ref, true);
          }
        }
      }
    });
  }

  destroy(cls: string, ref: string): void {
    this.transaction(() => {
      this.writeGuard?.(cls);
      const row = this.mustGet(cls, ref);
      const table = this.tables.get(cls)!;
      const meta = this.meta.get(ref)!;
      table.delete(ref);
      const uuid = row.uuid as string | undefined;
      if (uuid !== undefined) this.uuids.get(cls)!.delete(uuid);
      this.meta.delete(ref);
      this.tx!.undo.push(() => {
        table.set(ref, row);
        if (uuid !== undefined) this.uuids.get(cls)!.set(uuid, ref);
        this.meta.set(ref, meta);
      });
      this.tx!.ops.push({ op: 'delete', cls, ref });
      this.tx!.changes.push({ gen: this.bump(), cls, ref, op: 'del', snapshot: row });
      const links = this.backlinks.get(cls);
      if (links) for (const [field, link] of links) this.linkRemove(link, row[field] as string, ref);
    });
  }

  /** Bumps an object's generation without changing it (event.inject, the pool heartbeat). */
  touch(cls: string, ref: string): number {
    this.transaction(() => {
      this.writeGuard?.(cls);
      this.mustGet(cls, ref);
      this.markModified(cls, ref);
    });
    return this.generation;
  }

  // ---------- internals ----------

  private bump(): number {
    return ++this.generation;
  }

  private markModified(cls: string, ref: string) {
    const meta = this.meta.get(ref);
    if (!meta) return;
    const old = meta.modified;
    const gen = this.bump();
    meta.modified = gen;
    const row = this.tables.get(cls)?.get(ref);
    if (row) setRowVersion(row, gen);
    this.tx!.undo.push(() => {
      meta.modified = old;
      if (row) setRowVersion(row, old);
    });
    this.tx!.changes.push({ gen, cls, ref, op: 'mod' });
  }

  private linkAdd(link: Backlink, target: string, ref: string, inTx: boolean) {
    if (!target || target === NULL_REF) return;
    const owner = this.tables.get(link.manyClass)?.get(target);
    if (!owner) return;
    const list = owner[link.manyField] as string[];
    if (list.includes(ref)) return;
    list.push(ref);
    if (inTx) {
      this.tx!.undo.push(() => {
        const i = list.indexOf(ref);
        if (i >= 0) list.splice(i, 1);
      });
      this.markModified(link.manyClass, target);
    }
  }

  private linkRemove(link: Backlink, target: string, ref: string) {
    if (!target || target === NULL_REF) return;
    const owner = this.tables.get(link.manyClass)?.get(target);
    if (!owner) return;
    const list = owner[link.manyField] as string[];
    const i = list.indexOf(ref);
    if (i < 0) return;
    list.splice(i, 1);
    this.tx!.undo.push(() => list.splice(i, 0, ref));
    this.markModified(link.manyClass, target);
  }

  private withDefaults(spec: ClassSpec, fields: Row): Row {
    const row: Row = {};
    for (const f of spec.fields) {
      const v = fields[f.name];
      row[f.name] = v !== undefined ? v : f.default !== undefined ? structuredClone(f.default) : undefined;
    }
    return row;
  }

  private publish(changes: Change[]) {
    for (const c of changes) this.log.push(c);
    if (this.log.length > MAX_CHANGE_LOG) {
      const drop = this.log.length - MAX_CHANGE_LOG / 2;
      this.logStart = this.log[drop].gen;
      this.log = this.log.slice(drop);
    }
    for (const l of this.listeners) l(changes);
  }
}
