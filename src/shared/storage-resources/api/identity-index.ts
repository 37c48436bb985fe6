// The plugin session's index of reported resources by identity (IML's `(id_tuple, class)` key;
// reference §4). A plugin re-reporting everything each scan looks every resource up once per
// scan, so the lookup builds nothing: one Map per class name (and identifier length), then one
// nested Map level per identifier field keyed by the value itself (strings, numbers, booleans,
// null; a reference by the resource object), the leaf the resource. Equal keys are those the
// earlier JSON key had equal: same class name, same primitive values, the same referenced object.
import type { AnyResourceClass, Resource } from './resource.js';

/** What the index needs of a class, computed once per class (its meta). */
export interface IdentityPlan {
  /** The class name and identifier length: the first level of the index. */
  classKey: string;
  fields: readonly { name: string; boolean: boolean; optional: boolean }[];
  /** Whether any attribute is a ResourceReference (updateOrCreate then checks references). */
  hasReferences: boolean;
}

const plans = new WeakMap<object, IdentityPlan>();

export function identityPlan(klass: AnyResourceClass): IdentityPlan {
  const meta = klass.meta;
  let plan = plans.get(meta);
  if (plan) return plan;
  if (!meta.identifier) throw new Error(`Resource class '${meta.name}': No Meta.identifier`);
  const fields = meta.identifier.attributes.map((name) => {
    const attr = meta.attributes[name];
    if (!attr) throw new Error(`Invalid attribute ${name} named in identifier for ${meta.name}`);
    return { name, boolean: attr.type === 'Boolean', optional: attr.optional };
  });
  const hasReferences = Object.values(meta.attributes as Record<string, { type: string }>).some(
    (a) => a.type === 'ResourceReference',
  );
  // Two classes may share a name (a plugin's and another plugin's): with as many identifier
  // fields they share the key space, as the former `<name>\0<JSON tuple>` key did; with a
  // different count they never matched, so the count is part of the class key.
  plan = { classKey: `${meta.name}/${fields.length}`, fields, hasReferences };
  plans.set(meta, plan);
  return plan;
}

/** Field `i` of the identifier as given in `attrs` (Booleans coerced, missing optional ones null). */
function fieldValue(plan: IdentityPlan, i: number, attrs: Readonly<Record<string, unknown>>): unknown {
  const f = plan.fields[i];
  const v = attrs[f.name];
  if (v !== undefined && v !== null) return f.boolean ? Boolean(v) : v;
  if (f.optional) return null;
  throw new Error(`Missing ID attribute '${f.name}'`);
}

type Level = Map<unknown, Level | Resource>;

export class IdentityIndex {
  readonly #byClass = new Map<string, Level>();
  /** Each resource's identifier tuple, in insertion order (the session's report order). */
  readonly #tuples = new Map<Resource, { plan: IdentityPlan; tuple: unknown[] }>();

  /** The resource `attrs` identify (they must hold the mandatory identifier fields). */
  find(plan: IdentityPlan, attrs: Readonly<Record<string, unknown>>): Resource | undefined {
    const n = plan.fields.length;
    // Every field is resolved first, so a missing one throws whatever the index holds.
    if (n === 1) {
      const v = fieldValue(plan, 0, attrs);
      return this.#byClass.get(plan.classKey)?.get(v) as Resource | undefined;
    }
    const values: unknown[] = [];
    for (let i = 0; i < n; i++) values.push(fieldValue(plan, i, attrs));
    return this.findTuple(plan, values);
  }

  /** The resource with this identifier tuple. */
  findTuple(plan: IdentityPlan, tuple: readonly unknown[]): Resource | undefined {
    let level: Level | Resource | undefined = this.#byClass.get(plan.classKey);
    if (tuple.length === 0) return level?.get(EMPTY) as Resource | undefined;
    for (const v of tuple) {
      if (level === undefined) return undefined;
      level = (level as Level).get(v);
    }
    return level as Resource | undefined;
  }

  /** The identifier tuple of `attrs` (for add). */
  tupleOf(plan: IdentityPlan, attrs: Readonly<Record<string, unknown>>): unknown[] {
    return plan.fields.map((_, i) => fieldValue(plan, i, attrs));
  }

  has(r: Resource): boolean {
    return this.#tuples.has(r);
  }

  add(plan: IdentityPlan, tuple: unknown[], r: Resource): void {
    if (this.findTuple(plan, tuple) !== undefined) throw new Error('Duplicate resource added to index');
    let level = this.#byClass.get(plan.classKey);
    if (!level) this.#byClass.set(plan.classKey, (level = new Map()));
    if (tuple.length === 0) {
      level.set(EMPTY, r);
    } else {
      for (let i = 0; i < tuple.length - 1; i++) {
        let next = level.get(tuple[i]) as Level | undefined;
        if (!next) level.set(tuple[i], (next = new Map()));
        level = next;
      }
      level.set(tuple[tuple.length - 1], r);
    }
    this.#tuples.set(r, { plan, tuple });
  }

  /** Forgets `r`; false when it was not indexed. */
  delete(r: Resource): boolean {
    const entry = this.#tuples.get(r);
    if (!entry) return false;
    this.#tuples.delete(r);
    const { plan, tuple } = entry;
    const path: Level[] = [];
    let level = this.#byClass.get(plan.classKey)!;
    for (let i = 0; i < tuple.length - 1; i++) {
      path.push(level);
      level = level.get(tuple[i]) as Level;
    }
    level.delete(tuple.length === 0 ? EMPTY : tuple[tuple.length - 1]);
    // Drop emptied levels so a long session's churn leaves nothing behind.
    for (let i = path.length - 1; i >= 0 && level.size === 0; i--) {
      path[i].delete(tuple[i]);
      level = path[i];
    }
    if (this.#byClass.get(plan.classKey)?.size === 0) this.#byClass.delete(plan.classKey);
    return true;
  }

  /** Every resource, in the order they were added. */
  values(): IterableIterator<Resource> {
    return this.#tuples.keys();
  }
}

/** The leaf key of a class whose identifier has no fields (never a plugin class: tests only). */
const EMPTY = Symbol('no identifier fields');
