// Parent edges (child → parent: the parent "affects" the child) and the walks over them. The walks
// are WITH RECURSIVE … UNION queries: UNION drops repeats, so they end even on a damaged graph.
import { ResourceStoreError } from './errors.js';
import type { ResourceSql } from './sql.js';

const DESCENDANTS = `WITH RECURSIVE down(id) AS (
    SELECT child_id FROM _resource_parent WHERE parent_id = ?
    UNION SELECT p.child_id FROM _resource_parent p JOIN down ON p.parent_id = down.id)`;
const ANCESTORS = `WITH RECURSIVE up(id) AS (
    SELECT parent_id FROM _resource_parent WHERE child_id = ?
    UNION SELECT p.parent_id FROM _resource_parent p JOIN up ON p.child_id = up.id)`;

export function descendantIds(sql: ResourceSql, id: number): number[] {
  return sql
    .all<{ id: number }>(`${DESCENDANTS} SELECT id FROM down WHERE id <> ? ORDER BY id`, id, id)
    .map((r) => r.id);
}

export function ancestorIds(sql: ResourceSql, id: number): number[] {
  return sql
    .all<{ id: number }>(`${ANCESTORS} SELECT id FROM up WHERE id <> ? ORDER BY id`, id, id)
    .map((r) => r.id);
}

/** Would the edge child → parent close a cycle (is `child` already an ancestor of `parent`)? */
export function wouldCycle(sql: ResourceSql, child: number, parent: number): boolean {
  if (child === parent) return true;
  // Most new edges hang a fresh leaf: one index probe instead of a walk.
  if (!sql.get('SELECT 1 AS x FROM _resource_parent WHERE parent_id = ? LIMIT 1', child)) return false;
  return sql.get(`${DESCENDANTS} SELECT 1 AS x FROM down WHERE id = ? LIMIT 1`, child, parent) !== undefined;
}

/**
 * Adds the edge unless present. A cycle is refused: with `onCycle: 'fail'` the call fails (an
 * explicit parent), with 'skip' the edge is left out (a relation match). Returns whether added.
 */
export function addParentEdge(
  sql: ResourceSql,
  child: number,
  parent: number,
  onCycle: 'fail' | 'skip',
): boolean {
  if (wouldCycle(sql, child, parent)) {
    if (onCycle === 'skip') return false;
    throw new ResourceStoreError(`parent edge ${parent} → ${child} would make a cycle`);
  }
  return (
    sql.run(
      'INSERT INTO _resource_parent (child_id, parent_id) VALUES (?, ?) ON CONFLICT (child_id, parent_id) DO NOTHING',
      child,
      parent,
    ).changes > 0
  );
}

export function removeParentEdge(sql: ResourceSql, child: number, parent: number): void {
  sql.run('DELETE FROM _resource_parent WHERE child_id = ? AND parent_id = ?', child, parent);
}
