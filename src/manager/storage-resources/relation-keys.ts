// Relation matching keys, after IML (reference §8): key `<subscribe_to class>_<attributes>`, value
// the tuple of attribute values (strings lower-cased when ignorecase). A subscriber and a provider
// match when key and value are equal; the provider becomes the subscriber's parent.
import type { ResourceClassInfo } from '../../shared/storage-resources/session.js';
import { className, type StoredValue } from './identity.js';

export interface RelationKey {
  key: string;
  value: string;
}

type Subscription = ResourceClassInfo['subscribes'][number];

const keyOf = (s: Subscription) =>
  `${className(s.to)}_${JSON.stringify(s.attributes)}${s.ignorecase ? '_ignorecase' : ''}`;

/**
 * The value tuple, or undefined when an attribute is unset: IML would match None to None and link
 * every serial-less device to every other; Berth does not match missing values (decisions.md).
 */
function tupleOf(s: Subscription, attrs: Record<string, StoredValue>): string | undefined {
  const values: (string | number | boolean)[] = [];
  for (const a of s.attributes) {
    const v = attrs[a];
    if (v === undefined || v === null) return undefined;
    const p = typeof v === 'object' ? v.record : v;
    values.push(s.ignorecase && typeof p === 'string' ? p.toLowerCase() : p);
  }
  return JSON.stringify(values);
}

/** Keys under which a record of `cls` looks for its providers. */
export function subscriberKeys(cls: ResourceClassInfo, attrs: Record<string, StoredValue>): RelationKey[] {
  const out: RelationKey[] = [];
  for (const s of cls.subscribes) {
    const value = tupleOf(s, attrs);
    if (value !== undefined) out.push({ key: keyOf(s), value });
  }
  return out;
}

/**
 * Keys under which a record of `cls` is found by subscribers: one per subscription (of any known
 * class) to `cls` naming attributes that `cls` declares.
 */
export function providerKeys(
  cls: ResourceClassInfo,
  subscriptionsTo: readonly Subscription[],
  attrs: Record<string, StoredValue>,
): RelationKey[] {
  const out: RelationKey[] = [];
  const seen = new Set<string>();
  for (const s of subscriptionsTo) {
    if (!s.attributes.every((a) => a in cls.attributes)) continue;
    const key = keyOf(s);
    const value = tupleOf(s, attrs);
    if (value === undefined || seen.has(key)) continue;
    seen.add(key);
    out.push({ key, value });
  }
  return out;
}
