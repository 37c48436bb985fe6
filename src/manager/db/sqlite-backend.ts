// SQLite storage backend (better-sqlite3). WAL journal with synchronous=FULL: once apply()
// returns, the transaction survives a crash of the process or the machine.
import { chmodSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { FieldSpec, Model } from '../../shared/datamodel/model-types.js';
import type { LoadedRow, StoreBackend, UserRow, WriteOp } from './backend.js';
import {
  createTableSql,
  fromSql,
  quoteIdent,
  SCHEMA_VERSION,
  sqlType,
  type TableSpec,
  tableSpecs,
  toSql,
} from './schema.js';
import { logger } from '../../shared/log.js';

const log = logger('sqlite');

interface PreparedTable {
  spec: TableSpec;
  byName: Map<string, FieldSpec>;
  insert: Database.Statement;
  delete: Database.Statement;
  updates: Map<string, Database.Statement>;
  /** UPDATEs of several columns at once, by their field names joined with commas. */
  multiUpdates: Map<string, Database.Statement>;
}

/** Distinct multi-column UPDATE statements kept per table (beyond it: one statement per column). */
const MAX_MULTI_UPDATES = 256;

export class SqliteBackend implements StoreBackend {
  private readonly db: Database.Database;
  private readonly tables = new Map<string, PreparedTable>();
  private readonly applyTx: (ops: WriteOp[], meta?: Record<string, string>) => void;
  private readonly metaSet: Database.Statement;
  private readonly dataVersion: Database.Statement;

  constructor(path: string, model: Model) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = OFF');
    // Password hashes and sessions: owner only, whatever the directory allows (berth-up.sh lets
    // the QEMU user's group search the data dir). SQLite gives -wal/-shm files the same mode.
    for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    this.db.exec('CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)');
    this.db.exec(
      'CREATE TABLE IF NOT EXISTS _users (name TEXT PRIMARY KEY NOT NULL, role TEXT NOT NULL, password_hash TEXT NOT NULL)',
    );
    // SQLite's data_version moves only when another connection commits: cheap to poll per call.
    this.dataVersion = this.db.prepare('PRAGMA data_version').pluck();
    this.metaSet = this.db.prepare(
      'INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.migrate(tableSpecs(model));
    this.applyTx = this.db.transaction((ops: WriteOp[], meta?: Record<string, string>) => {
      for (const op of ops) this.applyOne(op);
      if (meta) for (const [k, v] of Object.entries(meta)) this.metaSet.run(k, v);
    });
  }

  /**
   * Brings the file up to the model: creates missing tables and adds missing columns (new fields
   * read as their defaults). Columns of fields that left the model are kept, unused, so a
   * downgrade still finds its data.
   */
  private migrate(specs: TableSpec[]) {
    const from = Number(this.getMeta('schema_version') ?? SCHEMA_VERSION);
    if (from > SCHEMA_VERSION) {
      throw new Error(
        `database schema ${from} is newer than this Berth (${SCHEMA_VERSION}); refusing to open it`,
      );
    }
    const migrateTx = this.db.transaction(() => {
      for (const spec of specs) {
        this.db.exec(createTableSql(spec));
        const have = new Set(
          (this.db.prepare(`PRAGMA table_info(${quoteIdent(spec.table)})`).all() as { name: string }[]).map(
            (c) => c.name,
          ),
        );
        for (const f of spec.fields) {
          if (!have.has(f.column)) {
            this.db.exec(
              `ALTER TABLE ${quoteIdent(spec.table)} ADD COLUMN ${quoteIdent(f.column)} ${sqlType(f)}`,
            );
          }
        }
      }
      this.metaSet.run('schema_version', String(SCHEMA_VERSION));
    });
    migrateTx();
    for (const spec of specs) this.prepareTable(spec);
  }

  private prepareTable(spec: TableSpec) {
    const t = quoteIdent(spec.table);
    const cols = spec.fields.map((f) => quoteIdent(f.column));
    const insert = this.db.prepare(
      `INSERT OR REPLACE INTO ${t} (_ref, ${cols.join(', ')}) VALUES (?, ${cols.map(() => '?').join(', ')})`,
    );
    const updates = new Map<string, Database.Statement>();
    for (const f of spec.fields) {
      updates.set(f.name, this.db.prepare(`UPDATE ${t} SET ${quoteIdent(f.column)} = ? WHERE _ref = ?`));
    }
    this.tables.set(spec.cls, {
      spec,
      byName: new Map(spec.fields.map((f) => [f.name, f])),
      insert,
      delete: this.db.prepare(`DELETE FROM ${t} WHERE _ref = ?`),
      updates,
      multiUpdates: new Map(),
    });
  }

  private applyOne(op: WriteOp) {
    const t = this.tables.get(op.cls);
    if (!t) throw new Error(`no table for class ${op.cls}`);
    switch (op.op) {
      case 'insert':
        t.insert.run(op.ref, ...t.spec.fields.map((f) => toSql(f, op.record[f.name])));
        break;
      case 'update': {
        const fields: FieldSpec[] = [];
        for (const name of Object.keys(op.changes)) {
          const f = t.byName.get(name);
          if (f) fields.push(f);
        }
        if (fields.length === 0) break;
        const values = fields.map((f) => toSql(f, op.changes[f.name]));
        const stmt = fields.length === 1 ? t.updates.get(fields[0].name) : this.multiUpdate(t, fields);
        if (stmt) stmt.run(...values, op.ref);
        else for (let i = 0; i < fields.length; i++) t.updates.get(fields[i].name)!.run(values[i], op.ref);
        break;
      }
      case 'delete':
        t.delete.run(op.ref);
        break;
    }
  }

  /** One UPDATE setting all of `fields` (a row's coalesced changes), prepared once per set. */
  private multiUpdate(t: PreparedTable, fields: FieldSpec[]): Database.Statement | undefined {
    const key = fields.map((f) => f.name).join(',');
    let stmt = t.multiUpdates.get(key);
    if (!stmt && t.multiUpdates.size < MAX_MULTI_UPDATES) {
      const cols = fields.map((f) => `${quoteIdent(f.column)} = ?`);
      stmt = this.db.prepare(`UPDATE ${quoteIdent(t.spec.table)} SET ${cols.join(', ')} WHERE _ref = ?`);
      t.multiUpdates.set(key, stmt);
    }
    return stmt;
  }

  loadAll(): LoadedRow[] {
    const rows: LoadedRow[] = [];
    for (const t of this.tables.values()) {
      const stmt = this.db.prepare(`SELECT * FROM ${quoteIdent(t.spec.table)}`);
      for (const raw of stmt.iterate() as Iterable<Record<string, unknown>>) {
        const record: Record<string, unknown> = {};
        for (const f of t.spec.fields) record[f.name] = fromSql(f, raw[f.column]);
        rows.push({ cls: t.spec.cls, ref: String(raw._ref), record });
      }
    }
    log.debug('loaded', { rows: rows.length });
    return rows;
  }

  apply(ops: WriteOp[], meta?: Record<string, string>): void {
    this.applyTx(ops, meta);
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM _meta WHERE key = ?').get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.metaSet.run(key, value);
  }

  getUser(name: string): UserRow | undefined {
    const row = this.db.prepare('SELECT name, role, password_hash FROM _users WHERE name = ?').get(name) as
      | { name: string; role: string; password_hash: string }
      | undefined;
    return row && { name: row.name, role: row.role, passwordHash: row.password_hash };
  }

  listUsers(): UserRow[] {
    return (
      this.db.prepare('SELECT name, role, password_hash FROM _users ORDER BY name').all() as {
        name: string;
        role: string;
        password_hash: string;
      }[]
    ).map((r) => ({ name: r.name, role: r.role, passwordHash: r.password_hash }));
  }

  putUser(user: UserRow): void {
    this.db
      .prepare(
        'INSERT INTO _users (name, role, password_hash) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash',
      )
      .run(user.name, user.role, user.passwordHash);
  }

  externalChangeStamp(): number {
    return Number(this.dataVersion.get());
  }

  deleteUser(name: string): boolean {
    return this.db.prepare('DELETE FROM _users WHERE name = ?').run(name).changes > 0;
  }

  close(): void {
    this.db.close();
  }
}
