// Which noun an object a verb returned is shown as. A verb may return an object of another class
// than the noun typed (`berth vm -n web01 disks add` returns the new VDI): the label, name field
// and columns come from the object's own noun, found by the nouns' xapiClass and filter.
import type { ApiObject } from './api.js';
import type { NounSpec } from './spec.js';

const sameClass = (noun: NounSpec, cls: string) => noun.xapiClass?.toLowerCase() === cls.toLowerCase();
const accepts = (noun: NounSpec, o: ApiObject) => !noun.filter || noun.filter(o.record);

/**
 * The noun an object belongs to: the typed noun if it takes the object, else the first noun of
 * the object's class whose filter takes its record (a VM with is_a_template → template), else a
 * noun of its class whose filter does not (a VDI snapshot → vdi, dom0 → vm); undefined for a
 * class no noun names.
 */
export function nounOfObject(
  o: ApiObject,
  nouns: readonly NounSpec[],
  typed: NounSpec,
): NounSpec | undefined {
  if (sameClass(typed, o.cls) && accepts(typed, o)) return typed;
  const ofClass = nouns.filter((n) => sameClass(n, o.cls));
  return ofClass.find((n) => accepts(n, o)) ?? (sameClass(typed, o.cls) ? typed : ofClass[0]);
}
