// Deleting records, after IML's _delete_resource (reference §6): a deleted root takes the ScopedId
// records of its scope and the GlobalId records only it reported; every record referencing a
// victim goes too (referrers first, recursively); then edges, relation keys, alerts (lowered, kept
// as history), propagation rows, attributes, statistics and the records themselves.
import { retireAlertsOf, retireOfflineAlert } from './alerts.js';
import { type CallContext, setSession, unmapRecords } from './context.js';
import type { ResourceSql } from './sql.js';

/** Roots whose record is `id` (normally one). */
const rootsOfRecord = (sql: ResourceSql, id: number) =>
  sql.all<{ root: string }>('SELECT root FROM _resource_root WHERE record_id = ?', id).map((r) => r.root);

/** The records a root's deletion takes with it, its reporter entries stripped. */
function recordsOfDeletedRoot(ctx: CallContext, root: string): number[] {
  const scoped = ctx.sql
    .all<{ id: number }>('SELECT id FROM _resource_record WHERE scope = ?', root)
    .map((r) => r.id);
  const reported = ctx.sql
    .all<{ record_id: number }>('SELECT record_id FROM _resource_reported_by WHERE root = ?', root)
    .map((r) => r.record_id);
  ctx.sql.run('DELETE FROM _resource_reported_by WHERE root = ?', root);
  const orphans = reported.filter(
    (id) =>
      !ctx.sql.get('SELECT 1 AS x FROM _resource_reported_by WHERE record_id = ? LIMIT 1', id) &&
      !ctx.sql.get('SELECT 1 AS x FROM _resource_root WHERE record_id = ? LIMIT 1', id),
  );
  // Its offline alert ends with it; its session (if any) ends too.
  retireOfflineAlert(ctx, root);
  ctx.sql.run('DELETE FROM _resource_root WHERE root = ?', root);
  if (ctx.state.sessions.has(root)) setSession(ctx, root, undefined);
  return [...scoped, ...orphans];
}

/** Deletes `ids` and everything that goes with them; returns every record deleted. */
export function deleteRecords(ctx: CallContext, ids: readonly number[]): number[] {
  const victims = new Set<number>();
  const work = [...ids];
  // Phase 1: roots take their scope and orphans; phase 2: referrers of every victim.
  while (work.length > 0) {
    const id = work.pop()!;
    if (victims.has(id)) continue;
    if (!ctx.sql.get('SELECT 1 AS x FROM _resource_record WHERE id = ?', id)) continue;
    victims.add(id);
    for (const root of rootsOfRecord(ctx.sql, id)) work.push(...recordsOfDeletedRoot(ctx, root));
    for (const r of ctx.sql.all<{ record_id: number }>(
      'SELECT DISTINCT record_id FROM _resource_attribute WHERE ref_id = ?',
      id,
    ))
      work.push(r.record_id);
  }
  for (const id of victims) {
    retireAlertsOf(ctx, id);
    ctx.sql.run('DELETE FROM _resource_parent WHERE child_id = ? OR parent_id = ?', id, id);
    ctx.sql.run('DELETE FROM _resource_relation_key WHERE record_id = ?', id);
    ctx.sql.run('DELETE FROM _resource_reported_by WHERE record_id = ?', id);
    ctx.sql.run('DELETE FROM _resource_attribute WHERE record_id = ?', id);
    ctx.sql.run('DELETE FROM _resource_statistic_latest WHERE record_id = ?', id);
    ctx.sql.run('DELETE FROM _resource_statistic_sample WHERE record_id = ?', id);
    ctx.sql.run('DELETE FROM _resource_record WHERE id = ?', id);
  }
  unmapRecords(ctx, victims);
  return [...victims];
}

/** This root no longer reports global record `id`: deleted when no reporter remains. */
export function dropReporter(ctx: CallContext, root: string, id: number): boolean {
  ctx.sql.run('DELETE FROM _resource_reported_by WHERE record_id = ? AND root = ?', id, root);
  if (ctx.sql.get('SELECT 1 AS x FROM _resource_reported_by WHERE record_id = ? LIMIT 1', id)) return false;
  if (ctx.sql.get('SELECT 1 AS x FROM _resource_root WHERE record_id = ? LIMIT 1', id)) return false;
  deleteRecords(ctx, [id]);
  return true;
}

/** Deletes a root (a scannable the user removed, a host gone): its record, scope and orphans. */
export function deleteRoot(ctx: CallContext, root: string): number[] {
  const r = ctx.sql.get<{ record_id: number }>('SELECT record_id FROM _resource_root WHERE root = ?', root);
  if (r) return deleteRecords(ctx, [r.record_id]);
  return deleteRecords(ctx, recordsOfDeletedRoot(ctx, root));
}
