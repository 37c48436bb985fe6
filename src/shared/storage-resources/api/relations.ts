// Relations between resource classes by matching attribute values (IML api/relations.py;
// reference §8). The provider becomes the parent ("affects") of the subscriber.
import type { ResourceClass } from './resource.js';

/** A class of this plugin, or `[pluginName, className]` for a class of another plugin (`['linux', 'ScsiDevice']`). */
export type RelationTarget = ResourceClass<any, any> | readonly [plugin: string, className: string];

export interface RelationOptions {
  /** Compare string values case-insensitively. */
  ignorecase?: boolean;
}

export class Relation {
  readonly attributes: readonly string[];
  readonly ignorecase: boolean;
  constructor(
    /** provide: this class's resources provide the attributes to resources of `target` with equal
     * values; subscribe: this class's resources take such resources of `target` as parents. */
    readonly kind: 'provide' | 'subscribe',
    readonly target: RelationTarget,
    attributes: string | readonly string[],
    opts: RelationOptions = {},
  ) {
    // The guide's own example passes a single name as a string.
    this.attributes = typeof attributes === 'string' ? [attributes] : [...attributes];
    this.ignorecase = opts.ignorecase ?? false;
  }
}

/** Resources of this class provide `attributes` to resources of `provideTo` with equal values. */
export function Provide(
  provideTo: RelationTarget,
  attributes: string | readonly string[],
  opts?: RelationOptions,
): Relation {
  return new Relation('provide', provideTo, attributes, opts);
}

/** Resources of this class get as parents resources of `subscribeTo` with equal `attributes`. */
export function Subscribe(
  subscribeTo: RelationTarget,
  attributes: string | readonly string[],
  opts?: RelationOptions,
): Relation {
  return new Relation('subscribe', subscribeTo, attributes, opts);
}

/** IML's matching key of a subscription: `"<class>_<attributes list>"`. */
export function relationKey(className: string, attributes: readonly string[]): string {
  return `${className}_[${attributes.map((a) => `'${a}'`).join(', ')}]`;
}

/** The value a provider and a subscriber must share: attribute values, lower-cased if ignorecase. */
export function relationValue(
  attributes: Readonly<Record<string, unknown>>,
  names: readonly string[],
  ignorecase: boolean,
): unknown[] {
  return names.map((n) => {
    const v = attributes[n] ?? null;
    return ignorecase && typeof v === 'string' ? v.toLowerCase() : v;
  });
}
