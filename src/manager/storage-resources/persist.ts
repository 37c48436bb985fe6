// Persisting newly reported resources, after IML's _persist_new_resources (reference §6): in
// reference order, each resource is found or created by (class, storage id, scope), mapped to its
// handle, marked as reported by the root (GlobalId), its label (the plugin's own, else the
// default) and attributes written (references as record ids); a record created now is linked to
// its relation matches; explicit parents come last.
import type { ReportedResource, ResourceClassInfo } from '../../shared/storage-resources/session.js';
import { type CallContext, mapHandle, type Session } from './context.js';
import { addParentEdge } from './edges.js';
import { ResourceStoreError } from './errors.js';
import { defaultLabel, isScoped, scopeOf, type StoredValue, storageIdString } from './identity.js';
import { replaceAttributes, setLabel } from './records.js';
import { linkNewRecord, subscriptionsTo } from './relations.js';
import { recordSamples } from './statistics.js';

/** The root resource of every session has handle 1. */
export const ROOT_HANDLE = 1;

/** A reported attribute set with `{handle}` references replaced by `{record}` ids of the session. */
export function resolveReferences(
  s: Session,
  attrs: ReportedResource['attributes'],
): Record<string, StoredValue> {
  const out: Record<string, StoredValue> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && typeof v === 'object') {
      const id = s.handleToId.get(v.handle);
      if (id === undefined)
        throw new ResourceStoreError(
          `attribute ${k} references handle ${v.handle}, which is not in the session`,
        );
      out[k] = { record: id };
    } else out[k] = v;
  }
  return out;
}

/** Persists `ordered` (checked, referenced-first) into session `s`; returns their record ids. */
export function persistResources(
  ctx: CallContext,
  s: Session,
  ordered: readonly ReportedResource[],
): number[] {
  const provides = new Map<string, ResourceClassInfo['subscribes']>();
  const ids: number[] = [];
  for (const r of ordered) {
    const cls = ctx.state.classes.get(r.class)!;
    const attrs = resolveReferences(s, r.attributes);
    if (r.handle === ROOT_HANDLE && isScoped(cls))
      throw new ResourceStoreError(`Cannot create root resource of class ${r.class}, it requires a scope`);
    const storageId = storageIdString(cls, attrs);
    const scope = scopeOf(cls, s.root);
    const label = r.label ?? defaultLabel(cls, attrs);
    const existing = ctx.sql.get<{ id: number; label: string }>(
      'SELECT id, label FROM _resource_record WHERE class = ? AND storage_id = ? AND scope = ?',
      r.class,
      storageId,
      scope,
    );
    let id: number;
    if (existing) {
      id = existing.id;
      const other = s.idToHandle.get(id);
      if (other !== undefined)
        throw new ResourceStoreError(
          `duplicate resource ${r.class} ${storageId}: handles ${other} and ${r.handle} in one session`,
        );
      // Reported again (a restart, a re-open): its label may have changed meanwhile.
      if (existing.label !== label) setLabel(ctx, id, label);
    } else {
      id = ctx.sql.run(
        'INSERT INTO _resource_record (class, storage_id, scope, label, created_at) VALUES (?, ?, ?, ?, ?)',
        r.class,
        storageId,
        scope,
        label,
        ctx.now,
      ).lastId;
    }
    mapHandle(ctx, s, r.handle, id);
    if (r.handle === ROOT_HANDLE) {
      ctx.sql.run(
        'INSERT INTO _resource_root (root, record_id) VALUES (?, ?) ON CONFLICT (root) DO UPDATE SET record_id = excluded.record_id',
        s.root,
        id,
      );
    } else if (!isScoped(cls)) {
      ctx.sql.run(
        'INSERT INTO _resource_reported_by (record_id, root) VALUES (?, ?) ON CONFLICT (record_id, root) DO NOTHING',
        id,
        s.root,
      );
    }
    replaceAttributes(ctx.sql, id, attrs);
    if (!existing) {
      let p = provides.get(r.class);
      if (!p) provides.set(r.class, (p = subscriptionsTo(ctx, cls)));
      linkNewRecord(ctx, id, cls, attrs, p);
    }
    recordSamples(ctx, id, r.statistics);
    ids.push(id);
  }
  for (const r of ordered) {
    const child = s.handleToId.get(r.handle)!;
    for (const p of r.parents) addParentEdge(ctx.sql, child, s.handleToId.get(p)!, 'fail');
  }
  return ids;
}
