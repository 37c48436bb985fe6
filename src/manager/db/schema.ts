// The SQLite schema, derived from the datamodel: one table per stored class, one column per
// stored field, named as xapi names its DB columns (`name__label`). The "many" side of a
// one-to-many relation (VM.VBDs) is not stored: it is rebuilt from the other side at load.
import type { ClassSpec, FieldSpec, Model } from '../../shared/datamodel/model-types.js';

/** Bump when a change needs more than adding tables/columns (see migrate in sqlite-backend.ts). */
export const SCHEMA_VERSION = 1;

export interface TableSpec {
  cls: string;
  table: string;
  /** Stored fields, in column order. */
  fields: FieldSpec[];
}

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

export function storedFields(cls: ClassSpec): FieldSpec[] {
  const derived = new Set(cls.relations.map((r) => r.field));
  return cls.fields.filter((f) => !derived.has(f.name));
}

export function tableSpecs(model: Model): TableSpec[] {
  return Object.values(model.classes)
    .filter((c) => c.inDb)
    .map((c) => ({ cls: c.name, table: c.name, fields: storedFields(c) }));
}

export function sqlType(f: FieldSpec): string {
  switch (f.type.kind) {
    case 'int':
    case 'int32':
    case 'bool':
      return 'INTEGER';
    case 'float':
      return 'REAL';
    default:
      return 'TEXT';
  }
}

export function createTableSql(t: TableSpec): string {
  const cols = t.fields.map((f) => `${quoteIdent(f.column)} ${sqlType(f)}`);
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(t.table)} (_ref TEXT PRIMARY KEY NOT NULL, ${cols.join(', ')})`;
}

/** Internal value → SQLite value. Collections are stored as JSON text. */
export function toSql(f: FieldSpec, v: unknown): string | number | null {
  if (v === undefined || v === null) return null;
  switch (f.type.kind) {
    case 'bool':
      return v ? 1 : 0;
    case 'int':
    case 'int32':
    case 'float':
      return v as number;
    case 'set':
    case 'map':
    case 'record':
    case 'option':
      return JSON.stringify(v);
    default:
      return String(v);
  }
}

/** SQLite value → internal value (the field's default when the column is NULL, e.g. after a migration). */
export function fromSql(f: FieldSpec, v: unknown): unknown {
  if (v === null || v === undefined) return structuredClone(f.default);
  switch (f.type.kind) {
    case 'bool':
      return v === 1 || v === true;
    case 'int':
    case 'int32':
    case 'float':
      return Number(v);
    case 'set':
    case 'map':
    case 'record':
    case 'option':
      return JSON.parse(String(v));
    default:
      return v;
  }
}
