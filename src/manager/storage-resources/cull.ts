// Culling on session open (reference §6): what this root reported before but not now goes — its
// ScopedId records are deleted; its GlobalId records lose it as a reporter and are deleted when
// no reporter remains.
import type { CallContext } from './context.js';
import { deleteRecords, dropReporter } from './delete-cascade.js';

export function cullUnreported(ctx: CallContext, root: string, reported: ReadonlySet<number>): void {
  const scoped = ctx.sql
    .all<{ id: number }>('SELECT id FROM _resource_record WHERE scope = ?', root)
    .map((r) => r.id)
    .filter((id) => !reported.has(id));
  if (scoped.length > 0) deleteRecords(ctx, scoped);
  const globals = ctx.sql
    .all<{ record_id: number }>('SELECT record_id FROM _resource_reported_by WHERE root = ?', root)
    .map((r) => r.record_id)
    .filter((id) => !reported.has(id));
  for (const id of globals) dropReporter(ctx, root, id);
}
