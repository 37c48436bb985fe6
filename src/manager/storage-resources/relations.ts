// Provide/Subscribe matching on Berth's tables (reference §8): each record stores the keys it is
// found under as a provider and those it looks for as a subscriber; a newly created record is
// linked both ways to the matching existing records, the provider becoming the parent.
import type { ResourceClassInfo } from '../../shared/storage-resources/session.js';
import type { CallContext } from './context.js';
import { addParentEdge } from './edges.js';
import { className, type StoredValue } from './identity.js';
import { readAttributes } from './records.js';
import { providerKeys, subscriberKeys } from './relation-keys.js';

type Subscription = ResourceClassInfo['subscribes'][number];

/** Every subscription of a registered class that targets `cls`. */
export function subscriptionsTo(ctx: CallContext, cls: ResourceClassInfo): Subscription[] {
  const name = className(cls);
  const out: Subscription[] = [];
  for (const c of ctx.state.classes.values())
    for (const s of c.subscribes) if (className(s.to) === name) out.push(s);
  return out;
}

function insertKey(
  ctx: CallContext,
  role: 'provider' | 'subscriber',
  key: string,
  value: string,
  id: number,
) {
  ctx.sql.run(
    `INSERT INTO _resource_relation_key (role, key, value, record_id) VALUES (?, ?, ?, ?)
     ON CONFLICT (role, key, value, record_id) DO NOTHING`,
    role,
    key,
    value,
    id,
  );
}

function matches(ctx: CallContext, role: 'provider' | 'subscriber', key: string, value: string): number[] {
  return ctx.sql
    .all<{ record_id: number }>(
      'SELECT record_id FROM _resource_relation_key WHERE role = ? AND key = ? AND value = ?',
      role,
      key,
      value,
    )
    .map((r) => r.record_id);
}

/** Stores the new record's relation keys and links it to its existing matches (self-links skipped). */
export function linkNewRecord(
  ctx: CallContext,
  id: number,
  cls: ResourceClassInfo,
  attrs: Record<string, StoredValue>,
  provides: readonly Subscription[],
): void {
  for (const { key, value } of subscriberKeys(cls, attrs)) {
    for (const provider of matches(ctx, 'provider', key, value))
      if (provider !== id) addParentEdge(ctx.sql, id, provider, 'skip');
    insertKey(ctx, 'subscriber', key, value, id);
  }
  for (const { key, value } of providerKeys(cls, provides, attrs)) {
    for (const subscriber of matches(ctx, 'subscriber', key, value))
      if (subscriber !== id) addParentEdge(ctx.sql, subscriber, id, 'skip');
    insertKey(ctx, 'provider', key, value, id);
  }
}

/**
 * A subscription seen for the first time (its class was just registered): the existing records of
 * its target get their provider keys, so later subscribers find them.
 */
export function backfillProviderKeys(ctx: CallContext, target: ResourceClassInfo, s: Subscription): void {
  for (const { id } of ctx.sql.all<{ id: number }>(
    'SELECT id FROM _resource_record WHERE class = ?',
    className(target),
  )) {
    for (const { key, value } of providerKeys(target, [s], readAttributes(ctx.sql, id)))
      insertKey(ctx, 'provider', key, value, id);
  }
}

/** The records whose provider keys match `id`'s subscriber keys (IML's what_provides). */
export function whatProvides(sql: CallContext['sql'], id: number): number[] {
  return sql
    .all<{ record_id: number }>(
      `SELECT DISTINCT p.record_id FROM _resource_relation_key s
       JOIN _resource_relation_key p ON p.role = 'provider' AND p.key = s.key AND p.value = s.value
       WHERE s.role = 'subscriber' AND s.record_id = ? AND p.record_id <> ? ORDER BY p.record_id`,
      id,
      id,
    )
    .map((r) => r.record_id);
}
