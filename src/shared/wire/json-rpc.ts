// JSON-RPC 1.0/2.0 as xapi speaks it on POST /jsonrpc: the request rules of ocaml-rpc's Jsonrpc
// (v2 object params = one struct argument, null/absent params, integer-or-string ids, no
// notifications), type-directed encoders printing what yojson prints, and the envelopes with
// xapi's key order.
import { NULL_REF, type TypeDesc, typeToString } from '../datamodel/types.js';
import { WireFormatError } from './errors.js';
import { jsonFloat } from './format-float.js';
import { MAX_JSON_DEPTH, jsonTooDeep } from './json-depth.js';
import { decodeLenient, isXmlSafeString } from './utf8.js';
import type { RecordField } from './xml-encode.js';
import { showJsonValue } from './xml-value.js';

export interface JsonRpcRequest {
  method: string;
  params: unknown[];
  id: string | number;
  version: 1 | 2;
  /** Set when a parameter holds invalid UTF-8 (or characters XML cannot carry): it, rendered as xapi does. */
  invalidUtf8Param?: string;
  invalidUtf8Index?: number;
}

/** Marks undecodable bytes; U+FFFF is itself refused by the parameter check, so nothing slips by. */
const MARK = '\uFFFF';

const bad = (what: string) => new WireFormatError(`Invalid field '${what}' in request body`);
const missing = (what: string) => new WireFormatError(`Required field ${what} is missing`);

export function parseJsonRpcRequest(body: Buffer): JsonRpcRequest {
  const { text } = decodeLenient(body, MARK);
  let req: unknown;
  try {
    req = JSON.parse(text);
  } catch (e) {
    throw new WireFormatError(`JSON parse error: ${(e as Error).message}`);
  }
  if (jsonTooDeep(req))
    throw new WireFormatError(`JSON parse error: nested too deeply (more than ${MAX_JSON_DEPTH} levels)`);
  if (typeof req !== 'object' || req === null || Array.isArray(req))
    throw new WireFormatError('Invalid request body');
  const r = req as Record<string, unknown>;
  if (!Object.hasOwn(r, 'method')) throw missing('method');
  if (typeof r.method !== 'string') throw bad('method');
  let version: 1 | 2 = 1;
  if (Object.hasOwn(r, 'jsonrpc')) {
    if (r.jsonrpc !== '2.0') throw bad('jsonrpc');
    version = 2;
  }
  let params: unknown[];
  const p = Object.hasOwn(r, 'params') ? r.params : undefined;
  if (Array.isArray(p)) params = p;
  else if (version === 1) throw p === undefined ? missing('params') : bad('params');
  else if (p === undefined || p === null) params = [];
  else if (typeof p === 'object') params = [p];
  else throw bad('params');
  const id = r.id;
  if (!(typeof id === 'string' || (typeof id === 'number' && Number.isInteger(id)))) throw bad('id');
  const out: JsonRpcRequest = { method: r.method, params, id, version };
  const i = params.findIndex((x) => !stringsSafe(x));
  if (i >= 0) {
    out.invalidUtf8Index = i;
    out.invalidUtf8Param = showJsonValue(params[i]).replaceAll(MARK, '\uFFFD');
  }
  return out;
}

function stringsSafe(v: unknown): boolean {
  if (typeof v === 'string') return isXmlSafeString(v);
  if (Array.isArray(v)) return v.every(stringsSafe);
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) if (!isXmlSafeString(k) || !stringsSafe(x)) return false;
  }
  return true;
}

// ---------- encoding ----------

export type JsonEncoder = (v: unknown) => string;

export interface JsonEncodeContext {
  recordFields(cls: string): readonly RecordField[];
  special?(cls: string): JsonEncoder | undefined;
  wrapRecord?(cls: string, encode: JsonEncoder): JsonEncoder;
}

const str = (v: unknown, dflt: string) =>
  JSON.stringify(typeof v === 'string' ? v : v === undefined || v === null ? dflt : String(v));
const encString: JsonEncoder = (v) => str(v, '');
const encRef: JsonEncoder = (v) => str(v, NULL_REF);
const encInt: JsonEncoder = (v) =>
  typeof v === 'number' ? String(v) : String(Math.trunc(Number(v ?? 0)) || 0);
const encInt32: JsonEncoder = (v) => String(Number(v ?? 0) | 0);
const encFloat: JsonEncoder = (v) => jsonFloat(typeof v === 'number' ? v : Number(v ?? 0));
const encBool: JsonEncoder = (v) => (v ? 'true' : 'false');
const encDatetime: JsonEncoder = (v) => str(v, '19700101T00:00:00Z');
const encVoid: JsonEncoder = () => '""';

/** Types whose internal values JSON.stringify already prints exactly as yojson would. */
function isPlain(t: TypeDesc): boolean {
  switch (t.kind) {
    case 'string':
    case 'enum':
    case 'ref':
    case 'int':
    case 'int32':
    case 'bool':
    case 'datetime':
      return true;
    case 'set':
      return isPlain(t.of);
    case 'map':
      return isPlain(t.value);
    default:
      return false;
  }
}

interface Cache {
  byObject: WeakMap<TypeDesc, JsonEncoder>;
  byKey: Map<string, JsonEncoder>;
}
const caches = new WeakMap<JsonEncodeContext, Cache>();

/** The compiled JSON encoder for internal values of `type` (cached per context and type). */
export function jsonEncoder(type: TypeDesc, ctx: JsonEncodeContext): JsonEncoder {
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = { byObject: new WeakMap(), byKey: new Map() }));
  const hit = cache.byObject.get(type);
  if (hit) return hit;
  const enc = compile(type, ctx, cache);
  cache.byObject.set(type, enc);
  return enc;
}

function compile(type: TypeDesc, ctx: JsonEncodeContext, cache: Cache): JsonEncoder {
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
  let compiled: JsonEncoder = encVoid;
  cache.byKey.set(key, (v) => compiled(v));
  compiled = compileComposite(type, ctx, cache);
  cache.byKey.set(key, compiled);
  return compiled;
}

function compileComposite(type: TypeDesc, ctx: JsonEncodeContext, cache: Cache): JsonEncoder {
  switch (type.kind) {
    case 'option': {
      // ocaml-rpc marshals options as a zero- or one-element array (as in XML-RPC).
      const inner = compile(type.of, ctx, cache);
      return (v) => (v === undefined || v === null ? '[]' : `[${inner(v)}]`);
    }
    case 'set': {
      if (isPlain(type)) return (v) => (Array.isArray(v) ? JSON.stringify(v) : '[]');
      const inner = compile(type.of, ctx, cache);
      return (v) => {
        if (!Array.isArray(v) || v.length === 0) return '[]';
        let out = `[${inner(v[0])}`;
        for (let i = 1; i < v.length; i++) out += `,${inner(v[i])}`;
        return `${out}]`;
      };
    }
    case 'map': {
      if (isPlain(type)) return (v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : '{}');
      const inner = compile(type.value, ctx, cache);
      return (v) => {
        if (v === null || typeof v !== 'object') return '{}';
        let out = '';
        const o = v as Record<string, unknown>;
        for (const k in o) out += `${out ? ',' : ''}${JSON.stringify(k)}:${inner(o[k])}`;
        return `{${out}}`;
      };
    }
    case 'record': {
      const special = ctx.special?.(type.cls);
      if (special) return special;
      // Joined from parts into one flat string per record (see the XML encoder for why).
      const layout = ctx.recordFields(type.cls);
      const names = layout.map((f) => f.name);
      const encs = layout.map((f) => compile(f.type, ctx, cache));
      const pre = layout.map((f, i) => `${i === 0 ? '{' : ','}${JSON.stringify(f.name)}:`);
      const n = layout.length;
      const plain: JsonEncoder = (v) => {
        if (n === 0) return '{}';
        const o = (v ?? {}) as Record<string, unknown>;
        const parts = new Array<string>(2 * n + 1);
        for (let i = 0; i < n; i++) {
          parts[2 * i] = pre[i];
          parts[2 * i + 1] = encs[i](o[names[i]]);
        }
        parts[2 * n] = '}';
        return parts.join('');
      };
      return ctx.wrapRecord ? ctx.wrapRecord(type.cls, plain) : plain;
    }
    default:
      throw new Error(`no JSON encoder for ${typeToString(type)}`);
  }
}

/** Encodes an arbitrary JS value without a declared type (integers as ints, other numbers as floats). */
export function jsonUntyped(v: unknown): string {
  if (v === undefined || v === null) return '""';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return Number.isInteger(v) ? String(v) : jsonFloat(v);
    case 'bigint':
      return String(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map(jsonUntyped).join(',')}]`;
      if (v instanceof Date) return JSON.stringify(v.toISOString());
      return `{${Object.entries(v)
        .map(([k, x]) => `${JSON.stringify(k)}:${jsonUntyped(x)}`)
        .join(',')}}`;
    }
    default:
      return JSON.stringify(String(v));
  }
}

// yojson escapes DEL; JSON.stringify does not. DEL only ever occurs inside strings, so fixing the
// finished document is exact and costs one scan.
export const fixDel = (s: string) => (s.includes('\x7f') ? s.replaceAll('\x7f', '\\u007f') : s);
const idJson = (id: string | number) => (typeof id === 'number' ? String(id) : JSON.stringify(id));

/** Success envelope around an encoded result. */
export function jsonSuccess(version: 1 | 2, id: string | number, resultJson: string): string {
  return fixDel(
    version === 2
      ? `{"jsonrpc":"2.0","result":${resultJson},"id":${idJson(id)}}`
      : `{"result":${resultJson},"error":null,"id":${idJson(id)}}`,
  );
}

/**
 * jsonSuccess's text around the result, as two strings (head + result + tail), for replies sent
 * as byte pieces; the result's own pieces must already have DEL escaped (see fixDel).
 */
export function jsonSuccessEnvelope(version: 1 | 2, id: string | number): [head: string, tail: string] {
  return version === 2
    ? ['{"jsonrpc":"2.0","result":', fixDel(`,"id":${idJson(id)}}`)]
    : ['{"result":', fixDel(`,"error":null,"id":${idJson(id)}}`)];
}

/** Failure envelope; `description` is [code, params…]. v2 puts the code in `message`, `code` is always 1. */
export function jsonFailure(version: 1 | 2, id: string | number, description: readonly string[]): string {
  const [code = 'INTERNAL_ERROR', ...params] = description;
  return fixDel(
    version === 2
      ? `{"jsonrpc":"2.0","error":{"code":1,"message":${JSON.stringify(code)},"data":${JSON.stringify(params)}},"id":${idJson(id)}}`
      : `{"result":null,"error":${JSON.stringify(description)},"id":${idJson(id)}}`,
  );
}
