// The storage backend interface. The in-memory Database (database.ts) serves every read and
// hands each committed transaction to a backend as one batch of writes. SQLite is the embedded
// default; a PostgreSQL backend implements the same interface later (see docs/architecture.md).

export type WriteOp =
  | { op: 'insert'; cls: string; ref: string; record: Record<string, unknown> }
  | { op: 'update'; cls: string; ref: string; changes: Record<string, unknown> }
  | { op: 'delete'; cls: string; ref: string };

export interface LoadedRow {
  cls: string;
  ref: string;
  record: Record<string, unknown>;
}

export interface UserRow {
  name: string;
  role: string;
  /** scrypt hash in the form `scrypt$N$r$p$salt$hash` (base64). */
  passwordHash: string;
}

export interface StoreBackend {
  /** Every stored object, fields decoded to internal values (missing columns get their defaults). */
  loadAll(): LoadedRow[];
  /** Applies one transaction durably before returning (the write is acknowledged only after this). */
  apply(ops: WriteOp[], meta?: Record<string, string>): void;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  getUser(name: string): UserRow | undefined;
  listUsers(): UserRow[];
  putUser(user: UserRow): void;
  deleteUser(name: string): boolean;
  /**
   * Changes whenever another process committed to the store (berth-admin edits accounts from its
   * own process); lets callers cache what they read until then.
   */
  externalChangeStamp(): number;
  close(): void;
}
