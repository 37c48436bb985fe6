// XML-RPC request (and response) parsing with saxes, strict XML only. Refused: any DOCTYPE (so no
// DTD, no entity declarations, no external entities), entities other than the five predefined
// ones, nesting deeper than MAX_DEPTH, more than MAX_ELEMENTS elements. Structure follows
// ocaml-rpc's reader: whitespace between elements is ignored, `<value>text</value>` is a string,
// `<string/>`, `<value/>`, `<array/>`, `<struct/>` are empty values. Errors are WireFormatError.
import { SaxesParser } from 'saxes';
import { WireFormatError } from './errors.js';
import { decodeLenient } from './utf8.js';
import { showXmlValue, type XmlValue, xmlValueToJs } from './xml-value.js';

export { http500Body, WireFormatError } from './errors.js';
export type { XmlValue } from './xml-value.js';

export interface XmlLimits {
  maxDepth: number;
  maxElements: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxDepth: 64, maxElements: 200_000 };

export interface MethodCall {
  method: string;
  params: XmlValue[];
  /** Set when the body had invalid UTF-8 inside a parameter: that parameter, rendered as xapi does. */
  invalidUtf8Param?: string;
  /** Index of that parameter. */
  invalidUtf8Index?: number;
}

interface Node {
  name: string;
  kids: Node[];
  text: string;
  /** JS string offsets of the element (only tracked when needed). */
  start: number;
  end: number;
}

const WS = /^[ \t\r\n]*$/;

function parseTree(xml: string, limits: XmlLimits, track: boolean): Node {
  const parser = new SaxesParser({ xmlns: false, position: track });
  const root: Node = { name: '#document', kids: [], text: '', start: 0, end: 0 };
  const stack: Node[] = [root];
  let elements = 0;
  parser.on('doctype', () => {
    throw new WireFormatError('DOCTYPE declarations are not allowed');
  });
  parser.on('opentag', (tag) => {
    if (++elements > limits.maxElements) throw new WireFormatError('too many XML elements');
    if (stack.length > limits.maxDepth) throw new WireFormatError('XML nested too deeply');
    const node: Node = { name: tag.name, kids: [], text: '', start: track ? parser.position : 0, end: 0 };
    stack[stack.length - 1].kids.push(node);
    stack.push(node);
  });
  parser.on('closetag', () => {
    const node = stack.pop();
    if (node && track) node.end = parser.position;
  });
  parser.on('text', (t) => {
    stack[stack.length - 1].text += t;
  });
  parser.on('cdata', (t) => {
    stack[stack.length - 1].text += t;
  });
  try {
    // A leading BOM is allowed by XML but saxes wants it gone.
    parser.write(xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml).close();
  } catch (e) {
    if (e instanceof WireFormatError) throw e;
    throw new WireFormatError(`XML parse error: ${(e as Error).message}`);
  }
  if (root.kids.length !== 1) throw new WireFormatError('expected exactly one root element');
  return root.kids[0];
}

/** The child elements of a structural node, which must not hold text other than whitespace. */
function elements(node: Node): Node[] {
  if (!WS.test(node.text)) throw new WireFormatError(`unexpected text in <${node.name}>`);
  return node.kids;
}

function leafText(node: Node): string {
  if (node.kids.length)
    throw new WireFormatError(`unexpected element <${node.kids[0].name}> in <${node.name}>`);
  return node.text;
}

function expect(node: Node | undefined, name: string, where: string): Node {
  if (!node) throw new WireFormatError(`missing <${name}> in <${where}>`);
  if (node.name !== name) throw new WireFormatError(`expected <${name}>, got <${node.name}> in <${where}>`);
  return node;
}

const INT_RE = /^[+-]?\d+$/;
const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const FLOAT_RE = /^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)$/i;

function intText(raw: string): string {
  const s = raw.trim();
  if (!INT_RE.test(s)) throw new WireFormatError(`invalid integer ${JSON.stringify(s)}`);
  if (s.length > 18) {
    const n = BigInt(s);
    if (n > INT64_MAX || n < INT64_MIN) throw new WireFormatError(`integer out of int64 range: ${s}`);
  }
  return s;
}

/** Converts a `<value>` element. */
function convertValue(node: Node): XmlValue {
  if (node.kids.length === 0) return { t: 'string', v: node.text };
  const [el] = elements(node);
  if (node.kids.length !== 1) throw new WireFormatError('a <value> holds exactly one element');
  switch (el.name) {
    case 'string':
      return { t: 'string', v: leafText(el) };
    case 'int':
    case 'i4':
    case 'i8':
      return { t: 'int', v: intText(leafText(el)) };
    case 'boolean': {
      const s = leafText(el).trim();
      if (s === '') throw new WireFormatError('empty <boolean>');
      return { t: 'bool', v: s };
    }
    case 'double': {
      const s = leafText(el).trim();
      if (!FLOAT_RE.test(s)) throw new WireFormatError(`invalid double ${JSON.stringify(s)}`);
      return { t: 'double', v: s };
    }
    case 'dateTime.iso8601': {
      const s = leafText(el).trim();
      if (s === '') throw new WireFormatError('empty <dateTime.iso8601>');
      return { t: 'datetime', v: s };
    }
    case 'base64': {
      const s = leafText(el).replace(/[ \t\r\n]+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new WireFormatError('invalid <base64>');
      return { t: 'base64', v: s };
    }
    case 'nil':
      if (elements(el).length) throw new WireFormatError('<nil> must be empty');
      return { t: 'nil' };
    case 'array': {
      const kids = elements(el);
      if (kids.length === 0) return { t: 'array', v: [] };
      if (kids.length !== 1) throw new WireFormatError('<array> holds exactly one <data>');
      const data = expect(kids[0], 'data', 'array');
      return { t: 'array', v: elements(data).map((x) => convertValue(expect(x, 'value', 'data'))) };
    }
    case 'struct': {
      const m = new Map<string, XmlValue>();
      for (const member of elements(el)) {
        const parts = elements(expect(member, 'member', 'struct'));
        if (parts.length !== 2) throw new WireFormatError('<member> holds a <name> and a <value>');
        const name = leafText(expect(parts[0], 'name', 'member'));
        const value = convertValue(expect(parts[1], 'value', 'member'));
        if (!m.has(name)) m.set(name, value);
      }
      return { t: 'struct', v: m };
    }
    default:
      throw new WireFormatError(`unknown XML-RPC type <${el.name}>`);
  }
}

/** Parses an XML-RPC `methodCall`. */
export function parseMethodCall(body: Buffer, limits: XmlLimits = DEFAULT_XML_LIMITS): MethodCall {
  const { text, bad } = decodeLenient(body);
  const root = parseTree(text, limits, bad !== undefined);
  if (root.name !== 'methodCall') throw new WireFormatError(`expected <methodCall>, got <${root.name}>`);
  const kids = elements(root);
  const name = expect(kids[0], 'methodName', 'methodCall');
  const params = expect(kids[1], 'params', 'methodCall');
  if (kids.length > 2) throw new WireFormatError(`unexpected <${kids[2].name}> in <methodCall>`);
  const paramNodes = elements(params);
  const values = paramNodes.map((p) => {
    const inner = elements(expect(p, 'param', 'params'));
    if (inner.length !== 1) throw new WireFormatError('<param> holds exactly one <value>');
    return convertValue(expect(inner[0], 'value', 'param'));
  });
  const call: MethodCall = { method: leafText(name), params: values };
  if (bad) {
    const i = paramNodes.findIndex((p) => bad.some((pos) => pos >= p.start && pos < p.end));
    if (i >= 0) {
      call.invalidUtf8Index = i;
      call.invalidUtf8Param = showXmlValue(values[i]);
    }
  }
  return call;
}

/** Parses a lone `<value>…</value>` fragment (task results are stored as these). */
export function parseValueFragment(xml: string, limits: XmlLimits = DEFAULT_XML_LIMITS): XmlValue {
  return convertValue(expect(parseTree(xml, limits, false), 'value', 'fragment'));
}

export type MethodResponse = { ok: true; value: unknown } | { ok: false; fault: unknown };

/**
 * Parses a `methodResponse` into untyped JS (for our own clients and tests). xapi answers with a
 * params struct; a `<fault>` is reported as `{ ok: false }`.
 */
export function parseMethodResponse(body: Buffer | string, limits = DEFAULT_XML_LIMITS): MethodResponse {
  const text = typeof body === 'string' ? body : decodeLenient(body).text;
  const root = parseTree(text, limits, false);
  if (root.name !== 'methodResponse')
    throw new WireFormatError(`expected <methodResponse>, got <${root.name}>`);
  const kids = elements(root);
  if (kids.length !== 1) throw new WireFormatError('<methodResponse> holds <params> or <fault>');
  if (kids[0].name === 'fault') {
    const inner = elements(kids[0]);
    return { ok: false, fault: xmlValueToJs(convertValue(expect(inner[0], 'value', 'fault'))) };
  }
  const params = elements(expect(kids[0], 'params', 'methodResponse'));
  if (params.length !== 1) throw new WireFormatError('<params> of a response holds one <param>');
  const inner = elements(expect(params[0], 'param', 'params'));
  return { ok: true, value: xmlValueToJs(convertValue(expect(inner[0], 'value', 'param'))) };
}
