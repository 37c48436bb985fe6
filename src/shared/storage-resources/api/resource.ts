// Resource classes and instances (IML base_resource.py; reference §3). A class is declared with
// defineResource(), which TypeScript checks against its own attribute map: instances have typed
// properties, constructors and update_or_create take exactly the declared attributes (mandatory
// ones required), identifiers and alert conditions may only name declared attributes. The same
// checks run again at runtime with the original's messages for plain JavaScript plugins.
import type { AlertClassInfo } from '../session.js';
import type { AlertCondition } from './alert-conditions.js';
import { type ResourceAttribute, StringAttribute } from './attributes.js';
import { RESOURCE_BRAND, RESOURCE_CLASS_BRAND } from './brands.js';
import { AUTO_ID_ATTRIBUTE, type Identifier } from './identifiers.js';
import { pyRepr, pyStr, pyTuple } from './py-format.js';
import type { Relation } from './relations.js';
import type { Chart, Statistic } from './statistics.js';

/** No attributes / statistics. */
export type Empty = Record<never, never>;
export type AttributeMap = Record<string, ResourceAttribute<any, any>>;
export type StatisticMap = Record<string, Statistic<any>>;

type ValueOf<A> = A extends ResourceAttribute<infer T, infer O> ? (true extends O ? T | null : T) : never;
type OptionalKeys<A> = { [K in keyof A]: A[K] extends ResourceAttribute<any, true> ? K : never }[keyof A];

/** The attribute values of a resource (optional ones may be null). */
export type AttributeValues<A extends AttributeMap> = { -readonly [K in keyof A]: ValueOf<A[K]> };
/** What a constructor / update_or_create takes: mandatory attributes required, optional ones not. */
export type ResourceInit<A extends AttributeMap> = {
  [K in Exclude<keyof A, OptionalKeys<A>>]: ValueOf<A[K]>;
} & { [K in OptionalKeys<A>]?: ValueOf<A[K]> };
/** Statistics: assigning records a sample; reading gives the last value assigned (or undefined). */
export type StatisticValues<S extends StatisticMap> = {
  -readonly [K in keyof S]: S[K] extends Statistic<infer V> ? V : never;
};

export type ResourceInstance<A extends AttributeMap, S extends StatisticMap> = Resource &
  AttributeValues<A> &
  StatisticValues<S>;

/** The class-level description IML keeps in `_meta`, inherited and merged along the base chain. */
export interface ResourceMeta<A extends AttributeMap = AttributeMap, S extends StatisticMap = StatisticMap> {
  readonly name: string;
  readonly label: string;
  readonly icon: string;
  /** Null for built-in abstract classes; a plugin class without one fails loading. */
  readonly identifier: Identifier | null;
  /** In declaration order, the base's first. */
  readonly attributes: A;
  readonly statistics: S;
  readonly alertConditions: readonly AlertCondition[];
  readonly alertClasses: readonly AlertClassInfo[];
  /** As declared (the loader resolves Provides into Subscribes on their targets). */
  readonly relations: readonly Relation[];
  readonly charts: readonly Chart[];
  /** The class name when this is one of the framework's built-in classes. */
  readonly builtin: string | null;
  readonly base: AnyResourceClass | null;
}

export interface ResourceOptions {
  parents?: readonly Resource[];
  /** The plugin's switch: when it returns false every assignment is recorded as a change. */
  calcChangesDelta?: () => boolean;
}

export interface ResourceClass<A extends AttributeMap = AttributeMap, S extends StatisticMap = StatisticMap> {
  new (attrs: ResourceInit<A>, options?: ResourceOptions): ResourceInstance<A, S>;
  readonly meta: ResourceMeta<A, S>;
  readonly prototype: Resource;
}
/** Any resource class, whatever its attributes (the root `Resource` included). */
export interface AnyResourceClass {
  new (attrs: any, options?: ResourceOptions): Resource;
  readonly meta: ResourceMeta<any, any>;
  readonly prototype: Resource;
}

export type AttributesOf<C> = C extends { readonly meta: ResourceMeta<infer A, any> } ? A : never;
export type StatisticsOf<C> = C extends { readonly meta: ResourceMeta<any, infer S> } ? S : never;
export type InitOf<C> = C extends new (attrs: infer I, options?: ResourceOptions) => unknown ? I : never;

/** A class declaration error, reported by the loader and the validator as the original does. */
export class ResourceProgrammingError extends Error {
  constructor(className: string, message: string) {
    super(`Resource class '${className}': ${message}`);
    this.name = 'ResourceProgrammingError';
  }
}

/** Internal state of an instance, out of the way of attribute names. */
export const STATE = Symbol('resource-state');

interface ResourceState {
  storage: Map<string, unknown>;
  deltaAttrs: Map<string, unknown>;
  parents: Resource[];
  deltaParents: Resource[];
  samples: Map<string, [number, unknown][]>;
  lastSample: Map<string, unknown>;
  calcChangesDelta: () => boolean;
  /** The plugin session's number for it (the root is 1); set when reported. */
  handle: number | null;
}

const RESERVED = new Set([
  'constructor',
  'getLabel',
  'addParent',
  'removeParent',
  'getParent',
  'getParents',
  'flushDeltas',
  'flushStats',
  'validate',
  'idTuple',
  'handle',
  'meta',
]);

export interface Deltas {
  attributes: Record<string, unknown>;
  /** Parents added or removed since the last flush (whether added: `getParents().includes(p)`). */
  parents: Resource[];
}

/** The root of every resource class: no attributes, no identifier. */
export class Resource {
  static readonly meta: ResourceMeta<Empty, Empty> = {
    name: 'Resource',
    label: 'Resource',
    icon: 'default',
    identifier: null,
    attributes: {},
    statistics: {},
    alertConditions: [],
    alertClasses: [],
    relations: [],
    charts: [],
    builtin: 'Resource',
    base: null,
  };
  static readonly [RESOURCE_CLASS_BRAND] = true;
  readonly [RESOURCE_BRAND] = true;
  declare [STATE]: ResourceState;

  constructor(attrs: Record<string, unknown> = {}, options: ResourceOptions = {}) {
    Object.defineProperty(this, STATE, {
      enumerable: false,
      value: {
        storage: new Map(),
        deltaAttrs: new Map(),
        parents: [],
        deltaParents: [],
        samples: new Map(),
        lastSample: new Map(),
        calcChangesDelta: options.calcChangesDelta ?? (() => true),
        handle: null,
      } satisfies ResourceState,
    });
    const meta = this.meta;
    for (const [k, v] of Object.entries(attrs)) {
      if (!(k in meta.attributes)) {
        throw new Error(
          `Unknown attribute ${k} (not one of [${Object.keys(meta.attributes).map(pyRepr).join(', ')}])`,
        );
      }
      if (v !== undefined) (this as unknown as Record<string, unknown>)[k] = v;
    }
    for (const p of options.parents ?? []) this.addParent(p);
  }

  get meta(): ResourceMeta {
    return (this.constructor as AnyResourceClass).meta;
  }

  /** The session handle once the plugin reported it. */
  get handle(): number | null {
    return this[STATE].handle;
  }

  /** Default: `<class label> <id>`, the id value alone or a tuple when several (`X ('foo', 'bar')`). */
  getLabel(): string {
    const id = this.idTuple(true);
    return `${this.meta.label} ${id.length === 1 ? pyStr(id[0]) : pyTuple(id)}`;
  }

  /** The identifier's values in order; missing ones null if optional or `nullMissing`. */
  idTuple(nullMissing = false): unknown[] {
    const meta = this.meta;
    const { storage } = this[STATE];
    return (meta.identifier?.attributes ?? []).map((field) => {
      const attr = meta.attributes[field];
      if (!attr) throw new Error(`Invalid attribute ${field} named in identifier for ${meta.name}`);
      if (storage.has(field)) return storage.get(field);
      if (attr.optional || nullMissing) return null;
      throw new Error(`Missing ID attribute '${field}'`);
    });
  }

  /** Checks stored values and that every mandatory attribute is present (on registration). */
  validate(): void {
    const { storage } = this[STATE];
    for (const [k, attr] of Object.entries(this.meta.attributes)) {
      if (storage.has(k)) attr.validate(storage.get(k));
      else if (!attr.optional) throw new Error(`Missing mandatory attribute ${k}`);
    }
  }

  addParent(parent: Resource): void {
    if (parent === this) throw new Error('A resource cannot be its own parent');
    const st = this[STATE];
    if (st.parents.includes(parent)) return;
    st.parents.push(parent);
    if (!st.deltaParents.includes(parent)) st.deltaParents.push(parent);
  }

  removeParent(parent: Resource): void {
    const st = this[STATE];
    const i = st.parents.indexOf(parent);
    if (i < 0) return;
    st.parents.splice(i, 1);
    if (!st.deltaParents.includes(parent)) st.deltaParents.push(parent);
  }

  getParents(): readonly Resource[] {
    return this[STATE].parents;
  }

  /** The one parent of class `klass` (or a subclass). */
  getParent<C extends AnyResourceClass>(klass: C): InstanceType<C> {
    const found = this[STATE].parents.filter((p) => p instanceof klass);
    if (found.length !== 1) {
      throw new Error(`Expected one parent of class ${klass.meta.name}, found ${found.length}`);
    }
    return found[0] as InstanceType<C>;
  }

  /** Changed attributes and parents since the last flush; clears them. */
  flushDeltas(): Deltas {
    const st = this[STATE];
    if (st.deltaAttrs.size === 0 && st.deltaParents.length === 0) return { attributes: {}, parents: [] };
    const out = { attributes: Object.fromEntries(st.deltaAttrs), parents: st.deltaParents };
    st.deltaAttrs = new Map();
    st.deltaParents = [];
    return out;
  }

  /** Statistics samples since the last flush: name → [epoch seconds, value][]; clears them. */
  flushStats(): Record<string, [number, unknown][]> {
    const st = this[STATE];
    if (st.samples.size === 0) return {};
    const out = Object.fromEntries(st.samples);
    st.samples = new Map();
    return out;
  }

  /** The stored attribute values (what a default callable receives). */
  storage(): Readonly<Record<string, unknown>> {
    return Object.fromEntries(this[STATE].storage);
  }
}

function getAttribute(r: Resource, name: string): unknown {
  const st = r[STATE];
  if (st.storage.has(name)) return st.storage.get(name);
  const attr = r.meta.attributes[name];
  if (attr.optional) return null;
  if (attr.default !== undefined) {
    return typeof attr.default === 'function' ? attr.default(r.storage()) : attr.default;
  }
  throw new Error(`'${r.meta.name}' object has no attribute '${name}'`);
}

/**
 * Whether assigning `value` to attribute `name` of `r` is a no-op: the very value is stored (a
 * plugin re-reporting an unchanged resource) and the plugin computes deltas. It passed validate()
 * when stored (normalise() only canonicalises valid values), so there is nothing to check either.
 */
export function isUnchangedAssignment(r: Resource, name: string, value: unknown): boolean {
  const st = r[STATE];
  return value !== null && value !== undefined && st.storage.get(name) === value && st.calcChangesDelta();
}

/** Whether `r` has attribute changes, parent changes or statistics samples not flushed yet. */
export function hasPendingChanges(r: Resource): boolean {
  const st = r[STATE];
  return st.deltaAttrs.size > 0 || st.deltaParents.length > 0 || st.samples.size > 0;
}

function setAttribute(r: Resource, name: string, value: unknown): void {
  if (isUnchangedAssignment(r, name, value)) return;
  const st = r[STATE];
  const attr = r.meta.attributes[name];
  const v = value === undefined ? null : value;
  if (!(v === null && attr.optional && attr.type !== 'ResourceReference')) attr.validate(v);
  const stored = v === null ? null : attr.normalise(v);
  if (st.calcChangesDelta() && st.storage.has(name) && st.storage.get(name) === stored) return;
  st.storage.set(name, stored);
  st.deltaAttrs.set(name, stored);
}

function setStatistic(r: Resource, name: string, value: unknown): void {
  const v = r.meta.statistics[name].sampleValue(value);
  const st = r[STATE];
  let list = st.samples.get(name);
  if (!list) st.samples.set(name, (list = []));
  list.push([Date.now() / 1000, v]);
  st.lastSample.set(name, v);
}

export interface ResourceSpec<B extends AnyResourceClass, A extends AttributeMap, S extends StatisticMap> {
  /** The class name (`plugin.Name` in the manager). */
  name: string;
  /** A built-in class (PhysicalDisk, LogicalDrive…) or another class of the plugin. */
  extends?: B;
  /** Default: the name. */
  label?: string;
  icon?: string;
  identifier?: Identifier<NoInfer<keyof (AttributesOf<B> & A) & string>>;
  attributes?: A;
  statistics?: S;
  alertConditions?: readonly AlertCondition<NoInfer<keyof (AttributesOf<B> & A) & string>>[];
  relations?: readonly Relation[];
  charts?: readonly Chart<NoInfer<keyof (StatisticsOf<B> & S) & string>>[];
}

type Merge<X, Y> = Omit<X, keyof Y> & Y;

/**
 * Declares a resource class. Subclass the result to override getLabel():
 *   class Lun extends defineResource({ name: 'Lun', extends: LogicalDrive, ... }) {
 *     override getLabel() { return this.name; }
 *   }
 */
export function defineResource<
  const A extends AttributeMap = Empty,
  const S extends StatisticMap = Empty,
  B extends AnyResourceClass = typeof Resource,
>(spec: ResourceSpec<B, A, S>): ResourceClass<Merge<AttributesOf<B>, A>, Merge<StatisticsOf<B>, S>> {
  return declareClass(spec, null) as never;
}

/** For builtin-resources.ts: a framework class, exempt from the plugin-class checks. */
export function defineBuiltinResource<
  const A extends AttributeMap = Empty,
  const S extends StatisticMap = Empty,
  B extends AnyResourceClass = typeof Resource,
>(spec: ResourceSpec<B, A, S>): ResourceClass<Merge<AttributesOf<B>, A>, Merge<StatisticsOf<B>, S>> {
  return declareClass(spec, spec.name) as never;
}

function declareClass(
  spec: ResourceSpec<AnyResourceClass, AttributeMap, StatisticMap>,
  builtin: string | null,
): AnyResourceClass {
  const name = spec.name;
  if (typeof name !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(name)) {
    throw new ResourceProgrammingError(pyStr(name), 'name must be an identifier');
  }
  const base: AnyResourceClass = spec.extends ?? (Resource as unknown as AnyResourceClass);
  if (!(base as unknown as Record<symbol, unknown>)[RESOURCE_CLASS_BRAND]) {
    throw new ResourceProgrammingError(name, 'extends must be a resource class');
  }
  const bm = base.meta;
  const fail = (msg: string): never => {
    throw new ResourceProgrammingError(name, msg);
  };
  const own = { ...(spec.attributes ?? {}) };
  const identifier = spec.identifier ?? bm.identifier;
  if (identifier?.kind === 'auto' && !(AUTO_ID_ATTRIBUTE in own) && !(AUTO_ID_ATTRIBUTE in bm.attributes)) {
    own[AUTO_ID_ATTRIBUTE] = new StringAttribute({ hidden: true, optional: false });
  }
  for (const [k, a] of Object.entries(own)) {
    if (RESERVED.has(k) || k.startsWith('_')) fail(`attribute name '${k}' is reserved`);
    if (!a || typeof (a as ResourceAttribute).validate !== 'function')
      fail(`attribute '${k}' is not an attribute`);
  }
  const attributes = { ...bm.attributes, ...own };
  const statistics = { ...bm.statistics, ...(spec.statistics ?? {}) };
  for (const k of Object.keys(spec.statistics ?? {})) {
    if (RESERVED.has(k) || k.startsWith('_')) fail(`statistic name '${k}' is reserved`);
    if (k in attributes) fail(`'${k}' is both an attribute and a statistic`);
  }
  const alertConditions = [...bm.alertConditions, ...(spec.alertConditions ?? [])];
  const alertClasses: AlertClassInfo[] = [];
  const seen = new Set<string>();
  for (const c of alertConditions) {
    if (!(c.attribute in attributes)) fail(`alert condition on unknown attribute '${c.attribute}'`);
    for (const info of c.alertClasses()) {
      if (seen.has(info.alertClass)) {
        fail("Multiple AlertConditions on the same attribute must be disambiguated with 'id' parameters.");
      }
      seen.add(info.alertClass);
      alertClasses.push(info);
    }
  }
  const charts = spec.charts ?? bm.charts;
  for (const c of spec.charts ?? []) {
    for (const s of c.series)
      if (!(s in statistics)) fail(`chart '${c.title}' names unknown statistic '${s}'`);
  }
  const meta: ResourceMeta = {
    name,
    label: spec.label ?? (builtin ? (spec.label ?? name) : name),
    icon: spec.icon ?? bm.icon,
    identifier,
    attributes,
    statistics,
    alertConditions,
    alertClasses,
    relations: [...bm.relations, ...(spec.relations ?? [])],
    charts,
    builtin,
    base,
  };
  const cls = { [name]: class extends (base as unknown as typeof Resource) {} }[name];
  Object.defineProperty(cls, 'meta', { value: meta, enumerable: true });
  for (const k of Object.keys(own)) {
    Object.defineProperty(cls.prototype, k, {
      get(this: Resource) {
        return getAttribute(this, k);
      },
      set(this: Resource, v: unknown) {
        setAttribute(this, k, v);
      },
      enumerable: true,
    });
  }
  for (const k of Object.keys(spec.statistics ?? {})) {
    Object.defineProperty(cls.prototype, k, {
      get(this: Resource) {
        return this[STATE].lastSample.get(k);
      },
      set(this: Resource, v: unknown) {
        setStatistic(this, k, v);
      },
      enumerable: true,
    });
  }
  return cls as unknown as AnyResourceClass;
}

export function isResourceClass(v: unknown): v is AnyResourceClass {
  return typeof v === 'function' && (v as unknown as Record<symbol, unknown>)[RESOURCE_CLASS_BRAND] === true;
}

/** `a` is `b` or derives from it. */
export function isSubclass(a: AnyResourceClass, b: AnyResourceClass): boolean {
  return a === b || a.prototype instanceof b;
}

const ownLabel = new WeakMap<object, boolean>();

/**
 * Whether the class of `r` overrides getLabel() (IML's get_label): found by walking to the
 * prototype defining it, so a class from another copy of the API is judged the same way.
 */
export function hasOwnLabel(r: Resource): boolean {
  const proto = Object.getPrototypeOf(r) as object;
  let known = ownLabel.get(proto);
  if (known === undefined) {
    let p: object | null = proto;
    while (p !== null && !Object.hasOwn(p, 'getLabel')) p = Object.getPrototypeOf(p) as object | null;
    const definer = (p as { constructor?: { meta?: ResourceMeta } } | null)?.constructor?.meta;
    known = p !== null && !(definer?.builtin === 'Resource' && definer.base === null);
    ownLabel.set(proto, known);
  }
  return known;
}

export function handleOf(r: Resource): number | null {
  return r[STATE].handle;
}

export function setHandle(r: Resource, handle: number | null): void {
  r[STATE].handle = handle;
}

const owners = new WeakMap<object, string>();

/** Records the plugin a class belongs to (the loader, and the linux declarations). */
export function setClassPlugin(klass: AnyResourceClass, plugin: string): void {
  owners.set(klass.meta, plugin);
}

/** The plugin a class belongs to, if known. */
export function classPlugin(klass: AnyResourceClass): string | undefined {
  return owners.get(klass.meta);
}
