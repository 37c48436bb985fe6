// Reading and writing a record's attributes and looking records up: the rows one resource owns.
import type { ResourceClassInfo } from '../../shared/storage-resources/session.js';
import type { CallContext } from './context.js';
import { ResourceStoreError } from './errors.js';
import type { StoredValue } from './identity.js';
import type { ResourceSql } from './sql.js';

export interface RecordRow {
  id: number;
  class: string;
  storage_id: string;
  scope: string;
  label: string;
  alias: string | null;
}

export function getRecord(sql: ResourceSql, id: number): RecordRow | undefined {
  return sql.get<RecordRow>(
    'SELECT id, class, storage_id, scope, label, alias FROM _resource_record WHERE id = ?',
    id,
  );
}

export function readAttributes(sql: ResourceSql, id: number): Record<string, StoredValue> {
  const out: Record<string, StoredValue> = {};
  for (const r of sql.all<{ name: string; value: string; ref_id: number | null }>(
    'SELECT name, value, ref_id FROM _resource_attribute WHERE record_id = ? ORDER BY name',
    id,
  )) {
    out[r.name] = r.ref_id !== null ? { record: r.ref_id } : (JSON.parse(r.value) as StoredValue);
  }
  return out;
}

/**
 * Upserts `attrs` (a reference also records its target id, for the deletion cascade). A value
 * equal to the stored one writes nothing (no page dirtied): a round re-sending unchanged values
 * commits without writing the WAL.
 */
export function writeAttributes(sql: ResourceSql, id: number, attrs: Record<string, StoredValue>): void {
  for (const [name, v] of Object.entries(attrs)) {
    const ref = v !== null && typeof v === 'object' ? v.record : null;
    sql.run(
      `INSERT INTO _resource_attribute (record_id, name, value, ref_id) VALUES (?, ?, ?, ?)
       ON CONFLICT (record_id, name) DO UPDATE SET value = excluded.value, ref_id = excluded.ref_id
       WHERE value IS NOT excluded.value OR ref_id IS NOT excluded.ref_id`,
      id,
      name,
      JSON.stringify(ref ?? v),
      ref,
    );
  }
}

/** Replaces every attribute of a record (a full report of it). */
export function replaceAttributes(sql: ResourceSql, id: number, attrs: Record<string, StoredValue>): void {
  sql.run('DELETE FROM _resource_attribute WHERE record_id = ?', id);
  writeAttributes(sql, id, attrs);
}

/** Stores a record's label (the plugin's getLabel() changed, or it was reported again). */
export function setLabel(ctx: CallContext, id: number, label: string): void {
  ctx.sql.run('UPDATE _resource_record SET label = ? WHERE id = ?', label, id);
}

export function classOfRecord(ctx: CallContext, rec: RecordRow): ResourceClassInfo {
  const cls = ctx.state.classes.get(rec.class);
  if (!cls) throw new ResourceStoreError(`record ${rec.id} has class ${rec.class}, which is not registered`);
  return cls;
}

export const aliasOrLabel = (rec: Pick<RecordRow, 'alias' | 'label'>) => rec.alias ?? rec.label;
