// Type-directed parameter decoding into internal values, with xapi's leniency: int64 from ints
// or decimal strings, floats from doubles, ints or strings, datetimes from dateTime or strings,
// enums matched case-insensitively (returned in datamodel spelling); bools must be bools and
// strings must be strings. A mismatch is INTERNAL_ERROR with the text xapi's unmarshallers give.
import type { TypeDesc } from '../datamodel/types.js';
import { XenApiError } from '../errors.js';
import type { RecordField } from './xml-encode.js';
import { setOwn, showJsonValue, showXmlValue, type XmlValue } from './xml-value.js';

export interface DecodeContext {
  /** The values of an enum in datamodel spelling. */
  enumValues(name: string): readonly string[] | undefined;
  recordFields(cls: string): readonly RecordField[];
}

const failure = (text: string) => new XenApiError('INTERNAL_ERROR', [`Failure(${JSON.stringify(text)})`]);
const expected = (what: string, shown: string) => failure(`Expected ${what}, got '${shown}'`);

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL_FLOATS: Record<string, number> = {
  inf: Number.POSITIVE_INFINITY,
  '+inf': Number.POSITIVE_INFINITY,
  '-inf': Number.NEGATIVE_INFINITY,
  infinity: Number.POSITIVE_INFINITY,
  '+infinity': Number.POSITIVE_INFINITY,
  '-infinity': Number.NEGATIVE_INFINITY,
  nan: Number.NaN,
};

function intOfString(s: string, bits: 32 | 64): number {
  if (!INT_RE.test(s)) throw failure(bits === 64 ? 'Int64.of_string' : 'Int32.of_string');
  const n = Number(s);
  if (bits === 32 && (n > 2147483647 || n < -2147483648)) throw failure('Int32.of_string');
  // Internal ints are JS numbers: refuse what would silently lose precision.
  if (!Number.isSafeInteger(n)) throw failure(`Integer out of supported range: ${s}`);
  return n;
}

function floatOfString(s: string): number {
  const t = s.trim();
  if (FLOAT_RE.test(t)) return Number(t);
  const special = SPECIAL_FLOATS[t.toLowerCase()];
  if (special !== undefined) return special;
  throw failure('float_of_string');
}

/** xapi's datetime form from its own spelling or ISO 8601 with dashes, a fraction and a zone. */
export function datetimeOfString(s: string): string {
  const t = s.trim();
  const m = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (!m) throw failure(`Invalid ISO 8601 date: ${t}`);
  const [, y, mo, d, h, mi, sec, , zone] = m;
  let ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +sec);
  const back = new Date(ms);
  if (back.getUTCMonth() !== +mo - 1 || back.getUTCDate() !== +d || +h > 23 || +mi > 59 || +sec > 60)
    throw failure(`Invalid ISO 8601 date: ${t}`);
  if (zone && zone !== 'Z') {
    const z = zone.replace(':', '');
    const offset = (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5))) * 60_000;
    ms -= zone[0] === '+' ? offset : -offset;
  }
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 19)}Z`;
}

const enumTables = new WeakMap<DecodeContext, Map<string, Map<string, string>>>();

function enumOf(ctx: DecodeContext, name: string, s: string): string {
  let tables = enumTables.get(ctx);
  if (!tables) enumTables.set(ctx, (tables = new Map()));
  let table = tables.get(name);
  if (!table) {
    table = new Map((ctx.enumValues(name) ?? []).map((v) => [v.toLowerCase(), v]));
    tables.set(name, table);
  }
  const hit = table.get(s.toLowerCase());
  if (hit === undefined) throw failure(`Unknown value '${s}' for enum ${name}`);
  return hit;
}

function mapKey(ctx: DecodeContext, key: TypeDesc, k: string): string {
  if (key.kind === 'enum') return enumOf(ctx, key.name, k);
  if (key.kind === 'int' || key.kind === 'int32') return String(intOfString(k, key.kind === 'int' ? 64 : 32));
  return k;
}

/** Decodes an XML-RPC parameter of declared type `type`. */
export function decodeXml(type: TypeDesc, v: XmlValue, ctx: DecodeContext): unknown {
  switch (type.kind) {
    case 'string':
    case 'ref':
      if (v.t === 'string') return v.v;
      throw expected('string', showXmlValue(v));
    case 'enum':
      if (v.t === 'string') return enumOf(ctx, type.name, v.v);
      throw expected('string', showXmlValue(v));
    case 'int':
    case 'int32': {
      const bits = type.kind === 'int' ? 64 : 32;
      if (v.t === 'int' || v.t === 'string') return intOfString(v.v, bits);
      throw expected(`int${bits}`, showXmlValue(v));
    }
    case 'float':
      if (v.t === 'double' || v.t === 'int' || v.t === 'string') return floatOfString(v.v);
      throw expected('float', showXmlValue(v));
    case 'bool':
      if (v.t === 'bool') return v.v === '1';
      throw expected('bool', showXmlValue(v));
    case 'datetime':
      if (v.t === 'datetime' || v.t === 'string') return datetimeOfString(v.v);
      throw expected('DateTime', showXmlValue(v));
    case 'void':
      return undefined;
    case 'option':
      if (v.t === 'nil') return undefined;
      // ocaml-rpc's own form is a zero- or one-element array; a bare value is accepted too.
      if (v.t === 'array' && type.of.kind !== 'set' && v.v.length <= 1)
        return v.v.length ? decodeXml(type.of, v.v[0], ctx) : undefined;
      return decodeXml(type.of, v, ctx);
    case 'set':
      if (v.t === 'array') return v.v.map((x) => decodeXml(type.of, x, ctx));
      throw expected('Enum', showXmlValue(v));
    case 'map': {
      if (v.t !== 'struct') throw expected('Dict', showXmlValue(v));
      const out: Record<string, unknown> = {};
      for (const [k, x] of v.v) setOwn(out, mapKey(ctx, type.key, k), decodeXml(type.value, x, ctx));
      return out;
    }
    case 'record': {
      if (v.t !== 'struct') throw expected('Dict', showXmlValue(v));
      const out: Record<string, unknown> = {};
      for (const f of ctx.recordFields(type.cls)) {
        const x = v.v.get(f.name);
        if (x !== undefined) setOwn(out, f.name, decodeXml(f.type, x, ctx));
      }
      return out;
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Decodes a JSON-RPC parameter of declared type `type`. */
export function decodeJson(type: TypeDesc, v: unknown, ctx: DecodeContext): unknown {
  switch (type.kind) {
    case 'string':
    case 'ref':
      if (typeof v === 'string') return v;
      throw expected('string', showJsonValue(v));
    case 'enum':
      if (typeof v === 'string') return enumOf(ctx, type.name, v);
      throw expected('string', showJsonValue(v));
    case 'int':
    case 'int32': {
      const bits = type.kind === 'int' ? 64 : 32;
      if (typeof v === 'number' && Number.isInteger(v)) return intOfString(String(v), bits);
      if (typeof v === 'string') return intOfString(v, bits);
      throw expected(`int${bits}`, showJsonValue(v));
    }
    case 'float':
      if (typeof v === 'number') return v;
      if (typeof v === 'string') return floatOfString(v);
      throw expected('float', showJsonValue(v));
    case 'bool':
      if (typeof v === 'boolean') return v;
      throw expected('bool', showJsonValue(v));
    case 'datetime':
      if (typeof v === 'string') return datetimeOfString(v);
      throw expected('DateTime', showJsonValue(v));
    case 'void':
      return undefined;
    case 'option':
      if (v === null || v === undefined) return undefined;
      if (Array.isArray(v) && type.of.kind !== 'set' && v.length <= 1)
        return v.length ? decodeJson(type.of, v[0], ctx) : undefined;
      return decodeJson(type.of, v, ctx);
    case 'set':
      if (Array.isArray(v)) return v.map((x) => decodeJson(type.of, x, ctx));
      throw expected('Enum', showJsonValue(v));
    case 'map': {
      if (!isObject(v)) throw expected('Dict', showJsonValue(v));
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v))
        setOwn(out, mapKey(ctx, type.key, k), decodeJson(type.value, x, ctx));
      return out;
    }
    case 'record': {
      if (!isObject(v)) throw expected('Dict', showJsonValue(v));
      const out: Record<string, unknown> = {};
      for (const f of ctx.recordFields(type.cls))
        if (Object.hasOwn(v, f.name)) setOwn(out, f.name, decodeJson(f.type, v[f.name], ctx));
      return out;
    }
  }
}
