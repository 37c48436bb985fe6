// XenAPI class names and the classes reference fields point to, for the eval context
// (sub-collections such as vm.VBDs) and the event waiter (event classes are lower-case on the
// wire). From the generated ref-fields.ts (a few KB, written by `npm run generate` from the
// datamodel), so the CLI never loads the 1.2 MB generated model.
import { REF_FIELDS, REF_MANY_FIELDS } from '../../../shared/datamodel/generated/ref-fields.js';

/** Every class spelling the reference table knows: classes with references and their targets. */
const BY_LOWER = new Map(
  [...Object.keys(REF_FIELDS), ...Object.values(REF_FIELDS).flatMap((f) => Object.values(f))].map((n) => [
    n.toLowerCase(),
    n,
  ]),
);

/** The class as spelled in message names (`VM`) from any case (`vm` in events, `Host` in messages). */
export function wireClass(name: string): string {
  return BY_LOWER.get(name.toLowerCase()) ?? name;
}

/** The member class of a reference field, and whether it holds several (a set or a map). */
export function refField(cls: string, field: string): { cls: string; set: boolean } | undefined {
  const c = wireClass(cls);
  const target = REF_FIELDS[c]?.[field];
  return target ? { cls: target, set: REF_MANY_FIELDS[c]?.includes(field) ?? false } : undefined;
}

/** The field of `cls` holding one reference to `parentCls` (a VBD's `VM`), to fill on create. */
export function backReference(cls: string, parentCls: string): string | undefined {
  const c = wireClass(cls);
  const parent = wireClass(parentCls);
  return Object.keys(REF_FIELDS[c] ?? {}).find((f) => {
    const r = refField(c, f);
    return r?.cls === parent && !r.set;
  });
}
