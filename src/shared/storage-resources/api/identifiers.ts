// Identifiers of resource classes (IML api/identifiers.py; reference §4): which attributes, in order,
// make a resource unique, and whether everywhere (GlobalId), within its scannable root (ScopedId), or
// by an id the manager assigns to a user-created root (AutoId).
import { pyJsonDumps } from './py-format.js';

export type IdentifierKind = 'global' | 'scoped' | 'auto';

/** The hidden attribute an AutoId class gets, filled with a uuid when a user creates the root. */
export const AUTO_ID_ATTRIBUTE = 'chroma_auto_id';

export class Identifier<K extends string = string> {
  constructor(
    readonly kind: IdentifierKind,
    readonly attributes: readonly K[],
  ) {}
}

/** Unique everywhere; several roots may report the same resource. */
export function GlobalId<const K extends string>(...attributes: K[]): Identifier<K> {
  return new Identifier('global', attributes);
}

/** Unique within the scannable root that reports it. */
export function ScopedId<const K extends string>(...attributes: K[]): Identifier<K> {
  return new Identifier('scoped', attributes);
}

/** A GlobalId on the hidden `chroma_auto_id`; only for ScannableResource classes. */
export function AutoId(): Identifier<never> {
  return new Identifier<never>('auto', [AUTO_ID_ATTRIBUTE as never]);
}

/** A persisted key: `json.dumps(id tuple)`, e.g. `["192.168.0.1", "192.168.0.2"]` or `[12, 3]`, after
 * the store replaced each reference (`{handle}` at the plugin side) by the referenced record's id. */
export function storageIdString(idTuple: readonly unknown[]): string {
  return pyJsonDumps(idTuple);
}
