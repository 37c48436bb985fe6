// The resource classes sessions declared, kept in _resource_class so that a restarted manager (and
// a session of another plugin subscribing to them) knows them before their plugin reopens.
import type { ResourceClassInfo } from '../../shared/storage-resources/session.js';
import type { CallContext } from './context.js';
import { className } from './identity.js';
import { backfillProviderKeys } from './relations.js';
import type { ResourceSql } from './sql.js';

export function loadClasses(sql: ResourceSql): Map<string, ResourceClassInfo> {
  const out = new Map<string, ResourceClassInfo>();
  for (const r of sql.all<{ name: string; info: string }>('SELECT name, info FROM _resource_class'))
    out.set(r.name, JSON.parse(r.info) as ResourceClassInfo);
  return out;
}

const subKey = (s: ResourceClassInfo['subscribes'][number]) =>
  JSON.stringify([className(s.to), s.attributes, s.ignorecase]);

/** Stores new or changed classes; a new subscription indexes the existing records it targets. */
export function registerClasses(ctx: CallContext, classes: readonly ResourceClassInfo[]): void {
  for (const c of classes) {
    const name = className(c);
    const prev = ctx.state.classes.get(name);
    const info = JSON.stringify(c);
    if (prev && JSON.stringify(prev) === info) continue;
    ctx.sql.run(
      'INSERT INTO _resource_class (name, info) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET info = excluded.info',
      name,
      info,
    );
    ctx.state.classes.set(name, c);
    ctx.undo.push(() => {
      if (prev) ctx.state.classes.set(name, prev);
      else ctx.state.classes.delete(name);
    });
    const had = new Set((prev?.subscribes ?? []).map(subKey));
    for (const s of c.subscribes) {
      const target = ctx.state.classes.get(className(s.to));
      if (!had.has(subKey(s)) && target) backfillProviderKeys(ctx, target, s);
    }
  }
}
