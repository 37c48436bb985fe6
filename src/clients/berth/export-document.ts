// The documents `berth … export` prints: an API object or a sub-value as indented XML (after
// oVirtCmd's XML dumps), or as JSON / YAML. Pure: reference fields are rendered as links whose
// uuids the caller resolved beforehand (`uuidOf`).
import type { ApiObject } from './api.js';

const INDENT = '    ';
const NULL_REF = 'OpaqueRef:NULL';

/** The uuid of a referenced object, if known (dangling and null references have none). */
export type UuidOf = (cls: string, ref: string) => string | undefined;

/** Field → class of the objects a reference field points to, for one class. */
export type RefFieldsOf = Record<string, string>;

/** Characters XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF) become U+FFFD. */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlText(s: string): string {
  return s.replace(NOT_XML_CHAR, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function xmlAttr(s: string): string {
  return xmlText(s)
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

/** XenAPI field and class names are XML names; anything else goes into an attribute. */
const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function scalarText(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}

/** Where a reference points, as a path naming the class and uuid (not a URL Berth serves). */
export function hrefOf(cls: string, uuid: string): string {
  return `/api/${cls}/${uuid}`;
}

function linkTag(rel: string, cls: string, ref: string, uuidOf: UuidOf): string {
  const uuid = ref === NULL_REF ? undefined : uuidOf(cls, ref);
  const href = uuid ? ` href="${xmlAttr(hrefOf(cls, uuid))}"` : '';
  return `<link rel="${xmlAttr(rel)}"${href} ref="${xmlAttr(ref)}"/>`;
}

/** Opening of an element named `name`, or of `<field name="…">` when `name` is not an XML name. */
function openTag(name: string, attrs: string): [string, string] {
  if (XML_NAME.test(name)) return [`<${name}${attrs}`, name];
  return [`<field name="${xmlAttr(name)}"${attrs}`, 'field'];
}

interface RefOf {
  cls: string;
  rel: string;
}

/** One value as an element: scalars inline, lists as `<item>`s, maps as `<entry key="…">`s. */
function elementLines(
  name: string,
  attrs: string,
  value: unknown,
  ref: RefOf | undefined,
  uuidOf: UuidOf,
  pad: string,
): string[] {
  const [open, tag] = openTag(name, attrs);
  if (ref && typeof value === 'string')
    return [`${pad}${open}>${linkTag(ref.rel, ref.cls, value, uuidOf)}</${tag}>`];
  if (value === null || value === undefined) return [`${pad}${open}/>`];
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${pad}${open}/>`];
    const inner = pad + INDENT;
    const children = value.flatMap((v) =>
      ref && typeof v === 'string'
        ? [inner + linkTag(ref.rel, ref.cls, v, uuidOf)]
        : elementLines('item', '', v, ref, uuidOf, inner),
    );
    return [`${pad}${open}>`, ...children, `${pad}</${tag}>`];
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return [`${pad}${open}/>`];
    const children = entries.flatMap(([k, v]) =>
      elementLines('entry', ` key="${xmlAttr(k)}"`, v, ref, uuidOf, pad + INDENT),
    );
    return [`${pad}${open}>`, ...children, `${pad}</${tag}>`];
  }
  return [`${pad}${open}>${xmlText(scalarText(value))}</${tag}>`];
}

/**
 * An object as `<Class href="/api/Class/uuid" id="uuid" ref="OpaqueRef:…">` with one child per
 * field: a single reference is a `<link rel="field" …/>`, a set of references a `<field>` of links.
 */
export function objectXml(o: ApiObject, refFields: RefFieldsOf, uuidOf: UuidOf): string {
  const uuid = typeof o.record.uuid === 'string' && o.record.uuid ? o.record.uuid : undefined;
  const attrs = [
    uuid ? ` href="${xmlAttr(hrefOf(o.cls, uuid))}" id="${xmlAttr(uuid)}"` : '',
    ` ref="${xmlAttr(o.ref)}"`,
  ].join('');
  const [open, tag] = openTag(o.cls, attrs);
  const lines = [`${open}>`];
  for (const [field, value] of Object.entries(o.record)) {
    const cls = refFields[field];
    if (cls && typeof value === 'string') lines.push(INDENT + linkTag(field, cls, value, uuidOf));
    else lines.push(...elementLines(field, '', value, cls ? { cls, rel: field } : undefined, uuidOf, INDENT));
  }
  lines.push(`</${tag}>`);
  return lines.join('\n');
}

/** A sub-value reached by an export path (a map, a nested record, a list) as one element. */
export function valueXml(name: string, value: unknown, refCls: string | undefined, uuidOf: UuidOf): string {
  return elementLines(name, '', value, refCls ? { cls: refCls, rel: name } : undefined, uuidOf, '').join(
    '\n',
  );
}

/** The JSON / YAML shape of an exported object. */
export function objectData(o: ApiObject): { class: string; ref: string; record: Record<string, unknown> } {
  return { class: o.cls, ref: o.ref, record: o.record };
}

/** Every reference (with its class) an object's reference fields hold, null ones excepted. */
export function referencesOf(
  value: unknown,
  cls: string | undefined,
  into: [string, string][] = [],
): [string, string][] {
  if (!cls) return into;
  if (typeof value === 'string') {
    if (value.startsWith('OpaqueRef:') && value !== NULL_REF) into.push([cls, value]);
  } else if (Array.isArray(value)) for (const v of value) referencesOf(v, cls, into);
  else if (isPlainObject(value)) for (const v of Object.values(value)) referencesOf(v, cls, into);
  return into;
}
