// Type-directed XML-RPC encoders, byte-compatible with ocaml-rpc's writer as xapi uses it: strings
// bare in <value> (escaping only < > & " and dropping control characters other than TAB/LF/CR),
// int64 bare, <i4> only for int32, <boolean>1|0</boolean>, %.16g doubles, compact output. Encoders
// are compiled once per type (closures over the field layout) because records dominate the cost
// of get_all_records.
import { NULL_REF, type TypeDesc, typeToString } from '../datamodel/types.js';
import { xmlDouble } from './format-float.js';

export type XmlEncoder = (v: unknown) => string;

export interface RecordField {
  name: string;
  type: TypeDesc;
}

export interface XmlEncodeContext {
  /** Wire field layout of a record class, in emission order. */
  recordFields(cls: string): readonly RecordField[];
  /** Optional hand-written encoder for a synthetic record class (event batches). */
  special?(cls: string): XmlEncoder | undefined;
  /** Optional wrapper around a compiled record encoder (e.g. a per-row cache). */
  wrapRecord?(cls: string, encode: XmlEncoder): XmlEncoder;
}

const NEEDS_ESCAPE = /[<>&"\u0000-\u0008\u000b\u000c\u000e-\u001f]/;
const ESCAPE_ALL = /[<>&"\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;
const REPLACEMENTS: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' };

/** xapi's text escaping: < > & " as entities; control characters other than TAB/LF/CR dropped. */
export function escapeXml(s: string): string {
  return NEEDS_ESCAPE.test(s) ? s.replace(ESCAPE_ALL, (c) => REPLACEMENTS[c] ?? '') : s;
}

const text = (v: unknown, dflt: string) =>
  typeof v === 'string' ? v : v === undefined || v === null ? dflt : String(v);

const BOOL_TRUE = '<value><boolean>1</boolean></value>';
const BOOL_FALSE = '<value><boolean>0</boolean></value>';
const EMPTY = '<value></value>';

const encString: XmlEncoder = (v) =>
  typeof v === 'string' ? `<value>${escapeXml(v)}</value>` : `<value>${escapeXml(text(v, ''))}</value>`;
const encRef: XmlEncoder = (v) => `<value>${escapeXml(text(v, NULL_REF))}</value>`;
const encInt: XmlEncoder = (v) =>
  `<value>${typeof v === 'number' ? v : Math.trunc(Number(v ?? 0)) || 0}</value>`;
const encInt32: XmlEncoder = (v) => `<value><i4>${Number(v ?? 0) | 0}</i4></value>`;
const encFloat: XmlEncoder = (v) =>
  `<value><double>${xmlDouble(typeof v === 'number' ? v : Number(v ?? 0))}</double></value>`;
const encBool: XmlEncoder = (v) => (v ? BOOL_TRUE : BOOL_FALSE);
const encVoid: XmlEncoder = () => EMPTY;
const encDatetime: XmlEncoder = (v) =>
  `<value><dateTime.iso8601>${escapeXml(v instanceof Date ? xapiDatetime(v) : text(v, '19700101T00:00:00Z'))}</dateTime.iso8601></value>`;

/** A Date in xapi's wire form, YYYYMMDDTHH:MM:SSZ. */
export function xapiDatetime(d: Date): string {
  const iso = d.toISOString(); // 2024-01-31T23:05:09.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 19)}Z`;
}

/** Types emitted as bare escaped text (refs only default differently when missing). */
const isText = (t: TypeDesc) => t.kind === 'string' || t.kind === 'enum' || t.kind === 'ref';

interface Cache {
  byObject: WeakMap<TypeDesc, XmlEncoder>;
  byKey: Map<string, XmlEncoder>;
}
const caches = new WeakMap<XmlEncodeContext, Cache>();

/**
 * The compiled encoder for internal values of `type`, producing one `<value>…</value>`. Cached per
 * context and type; a context's record layouts must not change once used.
 */
export function xmlEncoder(type: TypeDesc, ctx: XmlEncodeContext): XmlEncoder {
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = { byObject: new WeakMap(), byKey: new Map() }));
  const hit = cache.byObject.get(type);
  if (hit) return hit;
  const enc = compile(type, ctx, cache);
  cache.byObject.set(type, enc);
  return enc;
}

function compile(type: TypeDesc, ctx: XmlEncodeContext, cache: Cache): XmlEncoder {
  switch (type.kind) {
    case 'string':
    case 'enum':
      return encString;
    case 'ref':
      return encRef;
    case 'int':
      return encInt;
    case 'int32':
      return encInt32;
    case 'float':
      return encFloat;
    case 'bool':
      return encBool;
    case 'datetime':
      return encDatetime;
    case 'void':
      return encVoid;
  }
  const key = typeToString(type);
  const known = cache.byKey.get(key);
  if (known) return known;
  // Registered before compiling the parts so that self-referencing layouts terminate.
  let compiled: XmlEncoder = encVoid;
  cache.byKey.set(key, (v) => compiled(v));
  compiled = compileComposite(type, ctx, cache);
  cache.byKey.set(key, compiled);
  return compiled;
}

function compileComposite(type: TypeDesc, ctx: XmlEncodeContext, cache: Cache): XmlEncoder {
  switch (type.kind) {
    case 'option': {
      // ocaml-rpc marshals options as a zero- or one-element array.
      const inner = compile(type.of, ctx, cache);
      return (v) =>
        v === undefined || v === null
          ? '<value><array><data></data></array></value>'
          : `<value><array><data>${inner(v)}</data></array></value>`;
    }
    case 'set': {
      if (isText(type.of))
        // The common case (ref sets, string sets): no per-element closure call.
        return (v) => {
          if (!Array.isArray(v) || v.length === 0) return '<value><array><data></data></array></value>';
          let out = '<value><array><data><value>';
          for (let i = 0; i < v.length; i++) out += (i ? '</value><value>' : '') + escapeXml(text(v[i], ''));
          return `${out}</value></data></array></value>`;
        };
      const inner = compile(type.of, ctx, cache);
      return (v) => {
        if (!Array.isArray(v)) return '<value><array><data></data></array></value>';
        let out = '<value><array><data>';
        for (let i = 0; i < v.length; i++) out += inner(v[i]);
        return `${out}</data></array></value>`;
      };
    }
    case 'map': {
      if (isText(type.value))
        return (v) => {
          let out = '<value><struct>';
          if (v !== null && typeof v === 'object') {
            const o = v as Record<string, unknown>;
            for (const k in o)
              out += `<member><name>${escapeXml(k)}</name><value>${escapeXml(text(o[k], ''))}</value></member>`;
          }
          return `${out}</struct></value>`;
        };
      const inner = compile(type.value, ctx, cache);
      return (v) => {
        let out = '<value><struct>';
        if (v !== null && typeof v === 'object') {
          const o = v as Record<string, unknown>;
          for (const k in o) out += `<member><name>${escapeXml(k)}</name>${inner(o[k])}</member>`;
        }
        return `${out}</struct></value>`;
      };
    }
    case 'record': {
      const special = ctx.special?.(type.cls);
      if (special) return special;
      // Constant text around each field value is merged, and a record is joined from parts into
      // one flat string: a long chain of `+=` leaves millions of short-lived cons strings for
      // the garbage collector when 10,000 records are encoded.
      const layout = ctx.recordFields(type.cls);
      const names = layout.map((f) => f.name);
      const encs = layout.map((f) => compile(f.type, ctx, cache));
      const pre = layout.map(
        (f, i) => `${i === 0 ? '<value><struct>' : '</member>'}<member><name>${escapeXml(f.name)}</name>`,
      );
      const n = layout.length;
      const plain: XmlEncoder = (v) => {
        if (n === 0) return '<value><struct></struct></value>';
        const o = (v ?? {}) as Record<string, unknown>;
        const parts = new Array<string>(2 * n + 1);
        for (let i = 0; i < n; i++) {
          parts[2 * i] = pre[i];
          parts[2 * i + 1] = encs[i](o[names[i]]);
        }
        parts[2 * n] = '</member></struct></value>';
        return parts.join('');
      };
      return ctx.wrapRecord ? ctx.wrapRecord(type.cls, plain) : plain;
    }
    default:
      throw new Error(`no XML encoder for ${typeToString(type)}`);
  }
}

/**
 * Encodes an arbitrary JS value without a declared type (task result fragments, listMethods):
 * strings bare, integers bare (as xapi writes int64), other numbers as doubles, booleans,
 * arrays, plain objects as structs, null/undefined as the empty string, Dates as dateTime.
 */
export function xmlUntyped(v: unknown): string {
  if (v === undefined || v === null) return EMPTY;
  switch (typeof v) {
    case 'string':
      return `<value>${escapeXml(v)}</value>`;
    case 'boolean':
      return v ? BOOL_TRUE : BOOL_FALSE;
    case 'number':
      return Number.isInteger(v) ? `<value>${v}</value>` : encFloat(v);
    case 'bigint':
      return `<value>${v}</value>`;
    case 'object': {
      if (v instanceof Date) return encDatetime(v);
      if (Array.isArray(v)) {
        let out = '<value><array><data>';
        for (const x of v) out += xmlUntyped(x);
        return `${out}</data></array></value>`;
      }
      let out = '<value><struct>';
      for (const [k, x] of Object.entries(v))
        out += `<member><name>${escapeXml(k)}</name>${xmlUntyped(x)}</member>`;
      return `${out}</struct></value>`;
    }
    default:
      return `<value>${escapeXml(String(v))}</value>`;
  }
}

const PROLOG = '<?xml version="1.0"?>';
const SUCCESS_HEAD = `${PROLOG}<methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>`;
const FAILURE_HEAD = `${PROLOG}<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>`;
const TAIL = '</member></struct></value></param></params></methodResponse>';

/** The success envelope around an encoded `<value>…</value>`. */
export function xmlSuccess(valueXml: string): string {
  return SUCCESS_HEAD + valueXml + TAIL;
}

/** The success envelope's text before and after the value (for replies sent in pieces). */
export const XML_SUCCESS_HEAD = SUCCESS_HEAD;
export const XML_SUCCESS_TAIL = TAIL;

/** The failure envelope: ErrorDescription = [code, params…] as strings. */
export function xmlFailure(description: readonly string[]): string {
  let out = FAILURE_HEAD;
  for (const d of description) out += encString(d);
  return `${out}</data></array></value>${TAIL}`;
}

/** A bare methodResponse without the Status struct (xapi answers system.listMethods so). */
export function xmlBare(valueXml: string): string {
  return `${PROLOG}<methodResponse><params><param>${valueXml}</param></params></methodResponse>`;
}

/** The whole system.listMethods reply. */
export function xmlListMethods(names: readonly string[]): string {
  let out = '<value><array><data>';
  for (const n of names) out += encString(n);
  return xmlBare(`${out}</data></array></value>`);
}
