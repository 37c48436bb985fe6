// ova.xml: the XVA metadata member, one XML-RPC <value> as ocaml-rpc writes it (no XML declaration,
// no whitespace): struct { version: struct {hostname, date, product_version, product_brand,
// build_number, xapi_major, xapi_minor, export_vsn}, objects: array of struct {class, id,
// snapshot} } (xapi importexport.ml: rpc_of_header / version_of_rpc / obj).
import { PRODUCT_BRAND, BERTH_VERSION } from '../version.js';
import { escapeXml } from '../wire/xml-encode.js';
import { parseValueFragment, WireFormatError } from '../wire/xml-parse.js';
import type { XmlValue } from '../wire/xml-value.js';
import { EXPORT_VSN } from './constants.js';
import { importError, incompatibleVersion, legacyFormat } from './errors.js';

export interface OvaVersion {
  hostname: string;
  date: string;
  product_version: string;
  product_brand: string;
  build_number: string;
  xapi_major: number;
  xapi_minor: number;
  /** 0: trailing checksum table only; 1: inline checksums + table; 2: inline only. */
  export_vsn: number;
}

/** One exported record: `snapshot` is the get_record struct with refs rewritten to `Ref:<n>`. */
export interface OvaObject {
  cls: string;
  id: string;
  snapshot: XmlValue;
}

/** An object to write: its snapshot already encoded as one `<value>…</value>` (datamodel-typed). */
export interface OvaObjectXml {
  cls: string;
  id: string;
  snapshotXml: string;
}

export interface OvaHeader {
  version: OvaVersion;
  objects: OvaObject[];
}

/**
 * The version struct Berth writes. xapi refuses an import whose (xapi_major, xapi_minor) is newer
 * than its own, so Berth claims a low one (1.0) that every xapi accepts; hostname is "localhost"
 * as in every current xapi build.
 */
export function berthOvaVersion(now = new Date()): OvaVersion {
  return {
    hostname: 'localhost',
    date: now.toISOString().slice(0, 10),
    product_version: BERTH_VERSION,
    product_brand: PRODUCT_BRAND,
    build_number: '',
    xapi_major: 1,
    xapi_minor: 0,
    export_vsn: EXPORT_VSN,
  };
}

const str = (s: string) => `<value>${escapeXml(s)}</value>`;
const int = (n: number) => `<value>${Math.trunc(n)}</value>`;
const member = (name: string, valueXml: string) => `<member><name>${name}</name>${valueXml}</member>`;

function versionXml(v: OvaVersion): string {
  return (
    '<value><struct>' +
    member('hostname', str(v.hostname)) +
    member('date', str(v.date)) +
    member('product_version', str(v.product_version)) +
    member('product_brand', str(v.product_brand)) +
    member('build_number', str(v.build_number)) +
    member('xapi_major', int(v.xapi_major)) +
    member('xapi_minor', int(v.xapi_minor)) +
    member('export_vsn', int(v.export_vsn)) +
    '</struct></value>'
  );
}

/** The ova.xml text for a version and objects (already in xapi's class order). */
export function encodeOvaXml(version: OvaVersion, objects: readonly OvaObjectXml[]): string {
  let out = `<value><struct>${member('version', versionXml(version))}<member><name>objects</name><value><array><data>`;
  for (const o of objects)
    out +=
      '<value><struct>' +
      member('class', str(o.cls)) +
      member('id', str(o.id)) +
      member('snapshot', o.snapshotXml) +
      '</struct></value>';
  return `${out}</data></array></value></member></struct></value>`;
}

/** Re-encodes a parsed value in ocaml-rpc's form (untagged strings and ints). */
export function encodeXmlValue(v: XmlValue): string {
  switch (v.t) {
    case 'string':
      return str(v.v);
    case 'int':
      return `<value>${v.v}</value>`;
    case 'bool':
      return `<value><boolean>${v.v === '1' ? 1 : 0}</boolean></value>`;
    case 'double':
      return `<value><double>${v.v}</double></value>`;
    case 'datetime':
      return `<value><dateTime.iso8601>${escapeXml(v.v)}</dateTime.iso8601></value>`;
    case 'base64':
      return `<value><base64>${v.v}</base64></value>`;
    case 'nil':
      return '<value><nil/></value>';
    case 'array':
      return `<value><array><data>${v.v.map(encodeXmlValue).join('')}</data></array></value>`;
    case 'struct': {
      let out = '<value><struct>';
      for (const [k, x] of v.v) out += member(escapeXml(k), encodeXmlValue(x));
      return `${out}</struct></value>`;
    }
  }
}

/** True when the metadata is the pre-XenServer-4 `<appliance version="0.1">` document. */
export function isLegacyAppliance(xml: string): boolean {
  return /^\s*(<\?xml[^>]*\?>\s*)?(<!--[\s\S]*?-->\s*)*<appliance[\s>/]/.test(xml);
}

// ova.xml of a pool-wide metadata export can be large; far beyond the API's request limits.
const OVA_LIMITS = { maxDepth: 64, maxElements: 20_000_000 };

const text = (v: XmlValue | undefined): string | undefined =>
  v && (v.t === 'string' || v.t === 'int' || v.t === 'double') ? v.v : undefined;

function intOf(v: XmlValue | undefined, name: string): number {
  const s = text(v);
  if (s === undefined || !/^-?\d+$/.test(s.trim()))
    throw importError(`Failed to find key '${name}' in version data`);
  return Number(s.trim());
}

function versionOf(v: XmlValue | undefined): OvaVersion {
  if (v?.t !== 'struct') throw importError('ova.xml: version is not a struct');
  const s = (k: string) => {
    const x = text(v.v.get(k));
    if (x === undefined) throw importError(`Failed to find key '${k}' in version data`);
    return x;
  };
  const vsn = v.v.get('export_vsn');
  return {
    hostname: s('hostname'),
    date: s('date'),
    product_version: s('product_version'),
    product_brand: s('product_brand'),
    build_number: s('build_number'),
    xapi_major: intOf(v.v.get('xapi_major'), 'xapi_major'),
    xapi_minor: intOf(v.v.get('xapi_minor'), 'xapi_minor'),
    // Missing means 0 (xapi: `try … with _ -> 0`).
    export_vsn: vsn === undefined ? 0 : intOf(vsn, 'export_vsn'),
  };
}

/** Parses ova.xml; refuses the legacy directory format by name and malformed headers with IMPORT_ERROR. */
export function decodeOvaXml(xml: string): OvaHeader {
  if (isLegacyAppliance(xml)) throw legacyFormat();
  let root: XmlValue;
  try {
    root = parseValueFragment(xml.trim(), OVA_LIMITS);
  } catch (e) {
    if (e instanceof WireFormatError) throw importError(`ova.xml is not valid XML-RPC: ${e.message}`);
    throw e;
  }
  if (root.t !== 'struct') throw importError('ova.xml: the header is not a struct');
  const version = versionOf(root.v.get('version'));
  const objs = root.v.get('objects');
  if (objs?.t !== 'array') throw importError('ova.xml: objects is not an array');
  const objects = objs.v.map((o): OvaObject => {
    if (o.t !== 'struct') throw importError('ova.xml: an object is not a struct');
    const cls = text(o.v.get('class'));
    const id = text(o.v.get('id'));
    const snapshot = o.v.get('snapshot');
    if (cls === undefined || id === undefined || snapshot === undefined)
      throw importError('ova.xml: an object lacks class, id or snapshot');
    return { cls, id, snapshot };
  });
  return { version, objects };
}

/** xapi's assert_compatible: refuse an export made by a newer xapi than `own`. */
export function assertCompatibleVersion(
  file: Pick<OvaVersion, 'xapi_major' | 'xapi_minor'>,
  own: Pick<OvaVersion, 'xapi_major' | 'xapi_minor'>,
): void {
  if (
    own.xapi_major < file.xapi_major ||
    (own.xapi_major === file.xapi_major && own.xapi_minor < file.xapi_minor)
  )
    throw incompatibleVersion();
}

const field = (o: OvaObject, k: string): XmlValue | undefined =>
  o.snapshot.t === 'struct' ? o.snapshot.v.get(k) : undefined;

export interface OvaDisk {
  /** The VDI's id in the archive (`Ref:<n>`), also its member-name prefix. */
  ref: string;
  virtualSize: number;
}

/**
 * The VDIs whose data follows ova.xml, in stream order (xapi import.ml non_cdrom_vdis +
 * Stream_vdi.for_each_vdi): VDIs of non-CD VBDs whose SR is not an ISO SR, plus suspend VDIs,
 * sorted by id as strings. The importer may narrow this (VDIs it did not create get no data).
 */
export function disksOfOva(h: OvaHeader): OvaDisk[] {
  const byId = new Map(h.objects.map((o) => [o.id, o]));
  const diskVdis = new Set<string>();
  for (const vbd of h.objects.filter((o) => o.cls === 'VBD')) {
    if (text(field(vbd, 'type')) === 'CD') continue;
    const vdiId = text(field(vbd, 'VDI'));
    const vdi = vdiId === undefined ? undefined : byId.get(vdiId);
    if (vdi?.cls !== 'VDI') continue;
    const sr = byId.get(text(field(vdi, 'SR')) ?? '');
    if (sr && text(field(sr, 'content_type')) === 'iso') continue;
    diskVdis.add(vdiId!);
  }
  return h.objects
    .filter((o) => o.cls === 'VDI' && (diskVdis.has(o.id) || text(field(o, 'type')) === 'suspend'))
    .map((o) => ({ ref: o.id, virtualSize: Number(text(field(o, 'virtual_size')) ?? '0') }))
    .sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
}
