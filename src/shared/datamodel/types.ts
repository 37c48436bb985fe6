// The type language of the XenAPI datamodel, as a small AST. The generator parses the datamodel's
// type strings ("enum vm_operations set", "(string -> VM ref) map") into these; the wire codecs,
// the store and the SDK all work from them.

export type TypeDesc =
  | { kind: 'string' }
  | { kind: 'int' }
  /** 32-bit int, emitted as <i4> in XML-RPC; only event.from's valid_ref_counts uses it. */
  | { kind: 'int32' }
  | { kind: 'float' }
  | { kind: 'bool' }
  | { kind: 'datetime' }
  | { kind: 'void' }
  | { kind: 'ref'; cls: string }
  | { kind: 'enum'; name: string }
  | { kind: 'set'; of: TypeDesc }
  | { kind: 'map'; key: TypeDesc; value: TypeDesc }
  | { kind: 'record'; cls: string }
  | { kind: 'option'; of: TypeDesc };

/** Null reference, as xapi spells it on the wire. */
export const NULL_REF = 'OpaqueRef:NULL';

/**
 * Parses a datamodel type string. Grammar (right-recursive postfix):
 *   type := atom ("set" | "option" | "ref" | "record")*
 *   atom := "string" | "int" | "float" | "bool" | "datetime" | "void" | "enum" NAME | CLASS
 *         | "(" type "->" type ")" "map"
 */
export function parseType(text: string): TypeDesc {
  // event.from's result is described in prose; it is a synthetic record (see the generator).
  if (text === 'an event batch') return { kind: 'record', cls: 'event_batch' };
  const tokens = text.match(/\(|\)|->|[^\s()]+/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error(`unexpected end of type: ${text}`);
    return t;
  };
  const parse = (): TypeDesc => {
    let base: TypeDesc;
    const t = next();
    if (t === '(') {
      const key = parse();
      if (next() !== '->') throw new Error(`expected -> in ${text}`);
      const value = parse();
      if (next() !== ')') throw new Error(`expected ) in ${text}`);
      if (next() !== 'map') throw new Error(`expected map in ${text}`);
      base = { kind: 'map', key, value };
    } else if (t === 'enum') {
      base = { kind: 'enum', name: next() };
    } else if (
      t === 'string' ||
      t === 'int' ||
      t === 'float' ||
      t === 'bool' ||
      t === 'datetime' ||
      t === 'void'
    ) {
      base = { kind: t };
    } else {
      const suffix = next();
      if (suffix === 'ref') base = { kind: 'ref', cls: t };
      else if (suffix === 'record') base = { kind: 'record', cls: t };
      else throw new Error(`unknown type ${t} ${suffix} in ${text}`);
    }
    for (;;) {
      const s = peek();
      if (s === 'set') base = { kind: 'set', of: base };
      else if (s === 'option') base = { kind: 'option', of: base };
      else break;
      pos++;
    }
    return base;
  };
  const result = parse();
  if (pos !== tokens.length) throw new Error(`trailing tokens in type: ${text}`);
  return result;
}

/** Renders a TypeDesc back to the datamodel's spelling (for docs and error texts). */
export function typeToString(t: TypeDesc): string {
  switch (t.kind) {
    case 'ref':
      return `${t.cls} ref`;
    case 'record':
      return `${t.cls} record`;
    case 'enum':
      return `enum ${t.name}`;
    case 'set':
      return `${typeToString(t.of)} set`;
    case 'option':
      return `${typeToString(t.of)} option`;
    case 'map':
      return `(${typeToString(t.key)} -> ${typeToString(t.value)}) map`;
    default:
      return t.kind;
  }
}
