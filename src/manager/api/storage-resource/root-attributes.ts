// create_root's attributes: text from the API (an `xe` command line, a map of strings) cast to
// each attribute's type and validated by the plugin's own resource class, with the Plugin API's
// messages (`Value 5 too low (min 10)`, `Missing mandatory attribute address`).
import type { ResourceAttribute } from '../../../shared/storage-resources/api/attributes.js';
import type { AnyResourceClass } from '../../../shared/storage-resources/api/resource.js';

export type RootValue = string | number | boolean | null;

/** One attribute's text as its type's value; Enum options match by their text (`0` for 0). */
export function castText(attr: ResourceAttribute, text: string): RootValue {
  switch (attr.type) {
    case 'Boolean':
      if (/^(true|yes|1)$/i.test(text)) return true;
      if (/^(false|no|0)$/i.test(text)) return false;
      throw new Error(`Value '${text}' is not a boolean (true or false)`);
    case 'Integer':
    case 'Bytes':
      if (!/^\s*[-+]?\d+\s*$/.test(text))
        throw new Error(`invalid literal for int() with base 10: '${text}'`);
      return attr.cast(text) as number;
    case 'Enum': {
      const options = (attr as unknown as { options: readonly RootValue[] }).options;
      return options.find((o) => String(o) === text || (o === null && text === 'None')) ?? text;
    }
    case 'ResourceReference':
      throw new Error('a root cannot reference another resource');
    default:
      return text;
  }
}

/**
 * The root's attribute values: every given one cast and set on a new instance of the class (its
 * setters validate), then the whole checked (mandatory ones present). Throws with the message.
 */
export function rootAttributes(
  cls: AnyResourceClass,
  given: Record<string, string>,
): Record<string, RootValue> {
  const attrs = cls.meta.attributes as Record<string, ResourceAttribute>;
  const values: Record<string, RootValue> = {};
  for (const [k, text] of Object.entries(given)) {
    const attr = attrs[k];
    // An unknown name is left for the constructor, whose message lists the known ones.
    values[k] = attr ? castOne(k, attr, text) : text;
  }
  const Cls = cls as unknown as new (
    a: Record<string, unknown>,
  ) => {
    validate(): void;
    storage(): Readonly<Record<string, unknown>>;
  };
  const r = new Cls(values);
  r.validate();
  const out: Record<string, RootValue> = {};
  for (const [k, v] of Object.entries(r.storage())) if (v !== undefined) out[k] = v as RootValue;
  return out;
}

/** Cast and checked alone, so that the message names the attribute. */
function castOne(name: string, attr: ResourceAttribute, text: string): RootValue {
  try {
    const v = castText(attr, text);
    attr.validate(v);
    return v;
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
}
