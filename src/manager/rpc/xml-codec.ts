// XML-RPC as xapi speaks it. Parsing: saxes (strict XML), refusing any DOCTYPE (so no DTD, no
// entity expansion, no external entities), unknown entities, deep nesting and huge element
// counts. Encoding: hand-written and type-directed, byte-compatible with ocaml-rpc's writer
// (bare strings, int64 as strings, <boolean>1</boolean>, %.16g doubles, compact, no whitespace).
import { SaxesParser } from 'saxes';
import type { TypeDesc } from '../../shared/datamodel/types.js';

export class WireFormatError extends Error {}

export type XmlValue =
  | { t: 'string'; v: string }
  | { t: 'int'; v: string }
  | { t: 'bool'; v: string }
  | { t: 'double'; v: string }
  | { t: 'datetime'; v: string }
  | { t: 'base64'; v: string }
  | { t: 'array'; v: XmlValue[] }
  | { t: 'struct'; v: Map<string, XmlValue> }
  | { t: 'nil' };

export interface MethodCall {
  method: string;
  params: XmlValue[];
  invalidUtf8Param?: number;
}

const MAX_DEPTH = 64;
const MAX_ELEMENTS = 200_000;

interface Node {
  name: string;
  children: Node[];
  text: string;
}

/** Parses an XML document into a small element tree, with the refusals above. */
function parseTree(xml: string): Node {
  const parser = new SaxesParser({ xmlns: false, position: false });
  const root: Node = { name: '#root', children: [], text: '' };
  const stack: Node[] = [root];
  let elements = 0;
  let error: Error | undefined;
  parser.on('doctype', () => {
    throw new WireFormatError('DOCTYPE is not allowed');
  });
  parser.on('opentag', (tag) => {
    if (++elements > MAX_ELEMENTS) throw new WireFormatError('too many elements');
    if (stack.length > MAX_DEPTH) throw new WireFormatError('nesting too deep');
    const node: Node = { name: tag.name, children: [], text: '' };
    stack[stack.length - 1].children.push(node);
    stack.push(node);
  });
  parser.on('text', (t) => {
    stack[stack.length - 1].text += t;
  });
  parser.on('cdata', (t) => {
    stack[stack.length - 1].text += t;
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.on('error', (e) => {
    error ??= e;
    throw e;
  });
  try {
    parser.write(xml).close();
  } catch (e) {
    if (e instanceof WireFormatError) throw e;
    throw new WireFormatError((error ?? (e as Error)).message);
  }
  if (root.children.length !== 1) throw new WireFormatError('expected one root element');
  return root.children[0];
}

function child(node: Node, name: string): Node | undefined {
  return node.children.find((c) => c.name === name);
}

export function xmlValueOf(node: Node): XmlValue {
  if (node.children.length === 0) return { t: 'string', v: node.text };
  if (node.children.length !== 1) throw new WireFormatError('a <value> holds one element');
  const el = node.children[0];
  switch (el.name) {
    case 'string':
      return { t: 'string', v: el.text };
    case 'int':
    case 'i4':
    case 'i8':
      return { t: 'int', v: el.text.trim() };
    case 'boolean':
      return { t: 'bool', v: el.text.trim() };
    case 'double':
      return { t: 'double', v: el.text.trim() };
    case 'dateTime.iso8601':
      return { t: 'datetime', v: el.text.trim() };
    case 'base64':
      return { t: 'base64', v: el.text.trim() };
    case 'nil':
      return { t: 'nil' };
    case 'array': {
      const data = child(el, 'data');
      if (!data) throw new WireFormatError('<array> without <data>');
      return { t: 'array', v: data.children.filter((c) => c.name === 'value').map(xmlValueOf) };
    }
    case 'struct': {
      const m = new Map<string, XmlValue>();
      for (const member of el.children) {
        if (member.name !== 'member') continue;
        const name = child(member, 'name');
        const value = child(member, 'value');
        if (!name || !value) throw new WireFormatError('<member> needs <name> and <value>');
        m.set(name.text, xmlValueOf(value));
      }
      return { t: 'struct', v: m };
    }
    default:
      throw new WireFormatError(`unknown value type <${el.name}>`);
  }
}

function hasReplacementChar(v: XmlValue): boolean {
  switch (v.t) {
    case 'string':
      return v.v.includes('\uFFFD');
    case 'array':
      return v.v.some(hasReplacementChar);
    case 'struct':
      for (const [k, x] of v.v) if (k.includes('\uFFFD') || hasReplacementChar(x)) return true;
      return false;
    default:
      return false;
  }
}

/** Parses a methodCall. Invalid UTF-8 is decoded leniently and reported by parameter index. */
export function parseMethodCall(body: Buffer): MethodCall {
  const valid = isUtf8(body);
  const root = parseTree(body.toString('utf8'));
  if (root.name !== 'methodCall') throw new WireFormatError('expected <methodCall>');
  const name = child(root, 'methodName');
  if (!name) throw new WireFormatError('missing <methodName>');
  const params = child(root, 'params');
  if (!params) throw new WireFormatError('missing <params>');
  const values: XmlValue[] = [];
  for (const p of params.children) {
    if (p.name !== 'param') continue;
    const v = child(p, 'value');
    if (!v) throw new WireFormatError('<param> without <value>');
    values.push(xmlValueOf(v));
  }
  const call: MethodCall = { method: name.text.trim(), params: values };
  if (!valid) {
    const i = values.findIndex(hasReplacementChar);
    call.invalidUtf8Param = Math.max(i, 0);
  }
  return call;
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Untyped decoding of a response (our own clients and tests): structs → objects, ints → numbers. */
export function toPlain(v: XmlValue): unknown {
  switch (v.t) {
    case 'string':
    case 'datetime':
    case 'base64':
      return v.v;
    case 'int':
    case 'double':
      return Number(v.v);
    case 'bool':
      return v.v === '1';
    case 'nil':
      return null;
    case 'array':
      return v.v.map(toPlain);
    case 'struct':
      return Object.fromEntries([...v.v].map(([k, x]) => [k, toPlain(x)]));
  }
}

export function parseMethodResponse(body: Buffer | string): unknown {
  const root = parseTree(typeof body === 'string' ? body : body.toString('utf8'));
  const params = root.name === 'methodResponse' ? child(root, 'params') : undefined;
  const value = params && child(params, 'param') && child(child(params, 'param')!, 'value');
  if (!value) throw new WireFormatError('not a methodResponse');
  return toPlain(xmlValueOf(value));
}

// ---------- encoding ----------

/** Escapes < > & " and drops control characters other than TAB, LF, CR, as xapi does. */
export function escapeXml(s: string): string {
  if (!/[<>&"\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(s)) return s;
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '&') out += '&amp;';
    else if (ch === '"') out += '&quot;';
    else if (c < 0x20 && c !== 9 && c !== 10 && c !== 13) continue;
    else out += ch;
  }
  return out;
}

/** C's printf("%.16g"), as ocaml-rpc prints doubles (1.0 → "1", 0.5 → "0.5"). */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const exp = Math.floor(Math.log10(Math.abs(x)));
  if (exp < -4 || exp >= 16) {
    const [mant, e] = x.toExponential(15).split('e');
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  const s = x.toPrecision(16);
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

export type Encoder = (v: unknown) => string;

export interface EncodeContext {
  recordFields(cls: string): { name: string; type: TypeDesc }[];
  /** Custom encoders for synthetic records (event batches). */
  special?(cls: string): Encoder | undefined;
  /** Wraps a compiled record encoder (the manager caches per row). */
  wrapRecord?(cls: string, encode: Encoder): Encoder;
}

const str = (v: unknown) => `<value>${escapeXml(v === undefined || v === null ? '' : String(v))}</value>`;

/** A compiled encoder for values of `type` (cached per type object). */
export function xmlEncoder(type: TypeDesc, ctx: EncodeContext, cache = new Map<string, Encoder>()): Encoder {
  switch (type.kind) {
    case 'string':
    case 'ref':
    case 'enum':
    case 'int':
      return str;
    case 'int32':
      return (v) => `<value><i4>${Number(v) | 0}</i4></value>`;
    case 'bool':
      return (v) => (v ? '<value><boolean>1</boolean></value>' : '<value><boolean>0</boolean></value>');
    case 'float':
      return (v) => `<value><double>${formatDouble(Number(v))}</double></value>`;
    case 'datetime':
      return (v) => `<value><dateTime.iso8601>${escapeXml(String(v ?? ''))}</dateTime.iso8601></value>`;
    case 'void':
      return () => '<value></value>';
    case 'option': {
      const inner = xmlEncoder(type.of, ctx, cache);
      return (v) => (v === undefined || v === null ? '<value><nil/></value>' : inner(v));
    }
    case 'set': {
      const inner = xmlEncoder(type.of, ctx, cache);
      return (v) => {
        const a = (v ?? []) as unknown[];
        let out = '<value><array><data>';
        for (let i = 0; i < a.length; i++) out += inner(a[i]);
        return `${out}</data></array></value>`;
      };
    }
    case 'map': {
      const inner = xmlEncoder(type.value, ctx, cache);
      return (v) => {
        let out = '<value><struct>';
        const o = (v ?? {}) as Record<string, unknown>;
        for (const k in o) out += `<member><name>${escapeXml(k)}</name>${inner(o[k])}</member>`;
        return `${out}</struct></value>`;
      };
    }
    case 'record': {
      const special = ctx.special?.(type.cls);
      if (special) return special;
      const key = `record:${type.cls}`;
      const hit = cache.get(key);
      if (hit) return hit;
      // Placeholder first: records may refer to themselves indirectly.
      let compiled: Encoder = () => '';
      const lazy: Encoder = (v) => compiled(v);
      cache.set(key, lazy);
      const fields = ctx.recordFields(type.cls).map((f) => ({
        open: `<member><name>${escapeXml(f.name)}</name>`,
        name: f.name,
        enc: xmlEncoder(f.type, ctx, cache),
      }));
      const plain: Encoder = (v) => {
        const o = (v ?? {}) as Record<string, unknown>;
        let out = '<value><struct>';
        for (let i = 0; i < fields.length; i++) {
          const f = fields[i];
          out += `${f.open}${f.enc(o[f.name])}</member>`;
        }
        return `${out}</struct></value>`;
      };
      compiled = ctx.wrapRecord ? ctx.wrapRecord(type.cls, plain) : plain;
      return lazy;
    }
  }
}

/** Encodes any JS value without a type (task results of unknown type, listMethods). */
export function xmlUntyped(v: unknown): string {
  if (v === undefined || v === null) return '<value></value>';
  if (typeof v === 'string') return str(v);
  if (typeof v === 'boolean')
    return v ? '<value><boolean>1</boolean></value>' : '<value><boolean>0</boolean></value>';
  if (typeof v === 'number')
    return Number.isInteger(v) ? `<value>${v}</value>` : `<value><double>${formatDouble(v)}</double></value>`;
  if (Array.isArray(v)) return `<value><array><data>${v.map(xmlUntyped).join('')}</data></array></value>`;
  const o = v as Record<string, unknown>;
  let out = '<value><struct>';
  for (const k in o) out += `<member><name>${escapeXml(k)}</name>${xmlUntyped(o[k])}</member>`;
  return `${out}</struct></value>`;
}

const PROLOG = '<?xml version="1.0"?>';

export function xmlSuccess(valueXml: string): string {
  return `${PROLOG}<methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name>${valueXml}</member></struct></value></param></params></methodResponse>`;
}

export function xmlFailure(description: readonly string[]): string {
  return `${PROLOG}<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data>${description
    .map((d) => str(d))
    .join('')}</data></array></value></member></struct></value></param></params></methodResponse>`;
}

/** system.listMethods is answered unwrapped (no Status struct), as xapi does. */
export function xmlBare(valueXml: string): string {
  return `${PROLOG}<methodResponse><params><param>${valueXml}</param></params></methodResponse>`;
}

/** xapi's HTML body for transport-level failures (HTTP 500). */
export function http500Body(text: string): string {
  return `<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.<h1> Additional information </h1>${escapeXml(text)}</body></html>`;
}
