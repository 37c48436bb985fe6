// The object model of an XVA's ova.xml (xapi's Importexport.header): a version struct and a list
// of `{class, id, snapshot}` objects, where `snapshot` is an exported record as plain JS values
// in Berth's internal representation (the one the database and the XML-RPC codecs use), and
// refs inside it are export ids (`Ref:<n>`) or OpaqueRef:NULL.
//
// ovaXml / parseOvaXml are the text boundary, built on the project's typed XML-RPC encoder and
// parser (src/shared/wire): byte-compatible with ocaml-rpc's writer (strings and int64 bare,
// <boolean>, <double>, <dateTime.iso8601>), and as lenient on input as xapi (<string>, <int>,
// <i4>, <i8> and untyped values all read). A record field of the wrong type fails with
// IMPORT_ERROR_GENERIC, as xapi's generated *_of_rpc failures do.
import type { FieldSpec, Model } from '../../shared/datamodel/model-types.js';
import type { TypeDesc } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { EXPORT_VSN } from '../../shared/xva/constants.js';
import { encodeOvaXml } from '../../shared/xva/ova-xml.js';

export { EXPORT_VSN };
import { decodeXml, type DecodeContext } from '../../shared/wire/decode.js';
import { isWireFormatError } from '../../shared/wire/errors.js';
import { type RecordField, type XmlEncodeContext, xmlEncoder } from '../../shared/wire/xml-encode.js';
import { parseValueFragment } from '../../shared/wire/xml-parse.js';
import type { XmlValue } from '../../shared/wire/xml-value.js';

/** The classes xapi writes into ova.xml, in the order it writes them (Export.make_all). */
export const OVA_CLASSES = [
  'host',
  'VM',
  'VM_metrics',
  'VM_guest_metrics',
  'VBD',
  'VIF',
  'network',
  'VDI',
  'SR',
  'VGPU_type',
  'VGPU',
  'GPU_group',
  'PVS_proxy',
  'PVS_site',
  'VTPM',
] as const;

export type OvaClass = (typeof OVA_CLASSES)[number];

/** Importexport.version; the int fields are written untagged, as ocaml-rpc writes Rpc.Int. */
export interface OvaVersion {
  hostname: string;
  date: string;
  product_version: string;
  product_brand: string;
  build_number: string;
  xapi_major: number;
  xapi_minor: number;
  /** 2 = inline chunk checksums only; missing in a file = 0. */
  export_vsn: number;
}

export interface OvaObject {
  /** Datamodel class name (`VM`, `VBD`, …); xapi's key is `class`. */
  class: string;
  /** `Ref:<n>`; refs to this object elsewhere in the document use it. */
  id: string;
  /** The exported record (VTPM: xapi's hand-made vtpm' struct, see VTPM_EXPORT_FIELDS). */
  snapshot: Record<string, unknown>;
}

export interface OvaDocument {
  version: OvaVersion;
  objects: OvaObject[];
}

/**
 * The newest xapi whose exports Berth imports (IMPORT_INCOMPATIBLE_VERSION above it): Berth reports
 * xapi 25.6 in host.software_version. Berth's own exports claim 1.0 (shared/xva berthOvaVersion) so
 * that every xapi accepts them (docs/decisions.md, export).
 */
export const BERTH_XAPI_VERSION = { major: 25, minor: 6 } as const;

/**
 * xapi's vtpm' record (Importexport): the VTPM's VM, uuid, flags and its secret content. The key
 * names are the OCaml field names ppx_deriving_rpc uses.
 */
export const VTPM_EXPORT_FIELDS: readonly RecordField[] = [
  { name: "vTPM'_VM", type: { kind: 'ref', cls: 'VM' } },
  { name: "vTPM'_uuid", type: { kind: 'string' } },
  { name: "vTPM'_is_unique", type: { kind: 'bool' } },
  { name: "vTPM'_is_protected", type: { kind: 'bool' } },
  { name: "vTPM'_content", type: { kind: 'string' } },
];

const VERSION_FIELDS: readonly RecordField[] = [
  { name: 'hostname', type: { kind: 'string' } },
  { name: 'date', type: { kind: 'string' } },
  { name: 'product_version', type: { kind: 'string' } },
  { name: 'product_brand', type: { kind: 'string' } },
  { name: 'build_number', type: { kind: 'string' } },
  { name: 'xapi_major', type: { kind: 'int' } },
  { name: 'xapi_minor', type: { kind: 'int' } },
  { name: 'export_vsn', type: { kind: 'int' } },
];

const SYNTHETIC: Record<string, readonly RecordField[]> = {
  'ova:version': VERSION_FIELDS,
  'ova:VTPM': VTPM_EXPORT_FIELDS,
};

/** The record layout an object of `cls` is exported with. */
export function ovaFields(model: Model, cls: string): readonly FieldSpec[] | readonly RecordField[] {
  if (cls === 'VTPM') return VTPM_EXPORT_FIELDS;
  return model.classes[cls]?.fields ?? [];
}

const recordType = (cls: string): TypeDesc => ({ kind: 'record', cls: cls === 'VTPM' ? 'ova:VTPM' : cls });

const encodeContexts = new WeakMap<Model, XmlEncodeContext>();
function encodeContext(model: Model): XmlEncodeContext {
  let ctx = encodeContexts.get(model);
  if (!ctx) {
    ctx = { recordFields: (cls) => SYNTHETIC[cls] ?? model.classes[cls]?.fields ?? [] };
    encodeContexts.set(model, ctx);
  }
  return ctx;
}

const decodeContexts = new WeakMap<Model, DecodeContext>();
function decodeContext(model: Model): DecodeContext {
  let ctx = decodeContexts.get(model);
  if (!ctx) {
    ctx = {
      enumValues: (name) => model.enums[name],
      recordFields: (cls) => SYNTHETIC[cls] ?? model.classes[cls]?.fields ?? [],
    };
    decodeContexts.set(model, ctx);
  }
  return ctx;
}

/**
 * The whole ova.xml text: one `<value>`, no declaration, no whitespace (ocaml-rpc's to_string).
 * The frame (version struct, objects array) is src/shared/xva's encodeOvaXml, the one writer of
 * ova.xml; this adds the datamodel-typed record encoding of each snapshot.
 */
export function ovaXml(model: Model, doc: OvaDocument): string {
  const ctx = encodeContext(model);
  return encodeOvaXml(
    doc.version,
    doc.objects.map((o) => ({
      cls: o.class,
      id: o.id,
      snapshotXml: xmlEncoder(recordType(o.class), ctx)(o.snapshot),
    })),
  );
}

/** Limits on what an ova.xml may hold (it is read into memory whole). */
export interface OvaLimits {
  /** XML elements in the document. */
  maxElements: number;
  maxDepth: number;
  maxObjects: number;
}

// A VM with two disks, a CD and a NIC is ~1,300 elements, so this is some 750+ VMs (all=true); parsing
// 1M elements takes ~4 s and ~200 MB here. Callers may pass other limits.
export const DEFAULT_OVA_LIMITS: OvaLimits = { maxElements: 1_000_000, maxDepth: 32, maxObjects: 20_000 };

const generic = (msg: string) => new XenApiError('IMPORT_ERROR_GENERIC', [msg]);

const struct = (v: XmlValue, what: string): Map<string, XmlValue> => {
  if (v.t !== 'struct') throw generic(`${what}: expected a struct`);
  return v.v;
};
const field = (m: Map<string, XmlValue>, k: string, where: string): XmlValue => {
  const x = m.get(k);
  if (x === undefined) throw generic(`Failed to find key '${k}' in ${where}`);
  return x;
};

function decode(model: Model, type: TypeDesc, v: XmlValue, what: string): unknown {
  try {
    return decodeXml(type, v, decodeContext(model));
  } catch (e) {
    const detail = e instanceof XenApiError ? e.params.join(' ') : String(e);
    throw generic(`${what}: ${detail}`);
  }
}

/** Reads xapi's version struct; a missing export_vsn means 0 (Importexport.version_of_rpc). */
export function parseOvaVersion(model: Model, v: XmlValue): OvaVersion {
  const m = struct(v, 'version');
  const str = (k: string) => decode(model, { kind: 'string' }, field(m, k, 'version data'), k) as string;
  const int = (k: string) => decode(model, { kind: 'int' }, field(m, k, 'version data'), k) as number;
  return {
    hostname: str('hostname'),
    date: str('date'),
    product_version: str('product_version'),
    product_brand: str('product_brand'),
    build_number: str('build_number'),
    xapi_major: int('xapi_major'),
    xapi_minor: int('xapi_minor'),
    export_vsn: m.has('export_vsn') ? int('export_vsn') : 0,
  };
}

/**
 * Parses ova.xml text into objects. Records are decoded by their class's field types (unknown
 * fields dropped, absent fields left absent: the planner fills datamodel defaults); objects of a
 * class Berth does not know keep an empty snapshot (the importer ignores them, as xapi does).
 * Malformed XML or wrong types: IMPORT_ERROR_GENERIC.
 */
export function parseOvaXml(model: Model, text: string, limits: OvaLimits = DEFAULT_OVA_LIMITS): OvaDocument {
  let root: XmlValue;
  try {
    root = parseValueFragment(text, { maxDepth: limits.maxDepth, maxElements: limits.maxElements });
  } catch (e) {
    if (isWireFormatError(e) || e instanceof Error) throw generic(`ova.xml: ${e.message}`);
    throw e;
  }
  const top = struct(root, 'ova.xml');
  const version = parseOvaVersion(model, field(top, 'version', 'header'));
  const list = field(top, 'objects', 'header');
  if (list.t !== 'array') throw generic('objects: expected an array');
  if (list.v.length > limits.maxObjects)
    throw generic(`ova.xml holds ${list.v.length} objects (at most ${limits.maxObjects})`);
  const objects = list.v.map((x, i) => {
    const m = struct(x, `object ${i}`);
    const cls = decode(model, { kind: 'string' }, field(m, 'class', 'obj'), 'class') as string;
    const id = decode(model, { kind: 'string' }, field(m, 'id', 'obj'), 'id') as string;
    const snap = field(m, 'snapshot', 'obj');
    const known =
      cls === 'VTPM' ||
      (model.classes[cls] !== undefined && (OVA_CLASSES as readonly string[]).includes(cls));
    if (snap.t !== 'struct') throw generic(`${cls} ${id}: snapshot is not a struct`);
    const snapshot = known
      ? (decode(model, recordType(cls), snap, `${cls} ${id}`) as Record<string, unknown>)
      : {};
    return { class: cls, id, snapshot };
  });
  return { version, objects };
}
