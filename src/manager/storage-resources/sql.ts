// The one small interface the resource store keeps its tables behind. Every statement the store
// issues is plain SQL with `?` placeholders that SQLite and PostgreSQL both accept (no SQLite-only
// functions, ON CONFLICT rather than INSERT OR REPLACE, WITH RECURSIVE for graph walks); the
// only backend-specific text is the DDL in schema.ts. A PostgreSQL implementation numbers the
// placeholders and runs the same calls inside one transaction.
import Database from 'better-sqlite3';

export type SqlValue = string | number | null;

export interface ResourceSql {
  run(sql: string, ...params: SqlValue[]): { changes: number; lastId: number };
  get<T>(sql: string, ...params: SqlValue[]): T | undefined;
  all<T>(sql: string, ...params: SqlValue[]): T[];
  /** Runs `fn` atomically; nested calls are savepoints (a throwing inner call undoes only itself). */
  transaction<T>(fn: () => T): T;
  exec(ddl: string): void;
  close(): void;
}

/**
 * better-sqlite3 on Berth's database file (its own connection: WAL lets it share the file with
 * the object store's). synchronous=FULL: a call is acknowledged only once its commit is on disk.
 */
export class SqliteResourceSql implements ResourceSql {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** One transaction wrapper for every call (a nested call becomes a savepoint). */
  private readonly runInTransaction: (fn: () => unknown) => unknown;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.runInTransaction = this.db.transaction((fn: () => unknown) => fn());
  }

  private prepare(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  run(sql: string, ...params: SqlValue[]) {
    const r = this.prepare(sql).run(...params);
    return { changes: r.changes, lastId: Number(r.lastInsertRowid) };
  }

  get<T>(sql: string, ...params: SqlValue[]): T | undefined {
    return this.prepare(sql).get(...params) as T | undefined;
  }

  all<T>(sql: string, ...params: SqlValue[]): T[] {
    return this.prepare(sql).all(...params) as T[];
  }

  transaction<T>(fn: () => T): T {
    return this.runInTransaction(fn) as T;
  }

  exec(ddl: string): void {
    this.db.exec(ddl);
  }

  close(): void {
    this.db.close();
  }
}
