// Record identity and default labels, after IML (reference §3–4): the storage id string is the JSON
// of the identifier values in declared order, references replaced by the referenced record's id;
// a ScopedId record is unique within its root, a GlobalId (or AutoId) record everywhere.
import type { ResourceClassInfo } from '../../shared/storage-resources/session.js';
import { ResourceStoreError } from './errors.js';

/** An attribute value with references resolved to record ids. */
export type StoredValue = string | number | boolean | null | { record: number };

/** `plugin.Class` of a class. */
export const className = (c: { plugin: string; name: string }) => `${c.plugin}.${c.name}`;

export const isScoped = (cls: ResourceClassInfo) => cls.identifier.kind === 'scoped';

/** The identifier values in declared order (missing optional ones as null). */
export function identifierValues(cls: ResourceClassInfo, attrs: Record<string, StoredValue>): StoredValue[] {
  return cls.identifier.attributes.map((name) => {
    const info = cls.attributes[name];
    if (!info)
      throw new ResourceStoreError(`Invalid attribute ${name} named in identifier for ${className(cls)}`);
    const v = attrs[name];
    if (v === undefined || v === null) {
      if (info.optional) return null;
      throw new ResourceStoreError(`Missing ID attribute '${name}' of ${className(cls)}`);
    }
    return v;
  });
}

const plain = (v: StoredValue) => (v !== null && typeof v === 'object' ? v.record : v);

/** IML's storage_id_str: `["a","b"]`, `[12,3]` (references as record ids). */
export function storageIdString(cls: ResourceClassInfo, attrs: Record<string, StoredValue>): string {
  return JSON.stringify(identifierValues(cls, attrs).map(plain));
}

/** The scope column: the root for ScopedId classes, '' for GlobalId/AutoId ones. */
export const scopeOf = (cls: ResourceClassInfo, root: string) => (isScoped(cls) ? root : '');

/** Python's repr of one identifier value, as IML's default get_label shows it. */
function pyRepr(v: StoredValue): string {
  const p = plain(v);
  if (p === null) return 'None';
  if (typeof p === 'string') return `'${p.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof p === 'boolean') return p ? 'True' : 'False';
  return String(p);
}

/** IML's default label: `<Meta.label> <id>`, the id a tuple repr when there are several. */
export function defaultLabel(cls: ResourceClassInfo, attrs: Record<string, StoredValue>): string {
  const ids = identifierValues(cls, attrs);
  if (ids.length === 1) return `${cls.label} ${plain(ids[0]) ?? 'None'}`;
  return `${cls.label} (${ids.map(pyRepr).join(', ')})`;
}
