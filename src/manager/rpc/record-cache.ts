// Serialised records cached per row until the row changes (rows carry their last-change
// generation, see ROW_VERSION). get_all_records of thousands of objects and event snapshots sent
// to many watchers then encode each changed record once.
import { escapeXml, fixDel } from '../../shared/wire/index.js';
import { type Row, rowVersion } from '../db/database.js';

interface Entry {
  version: number;
  json?: string;
  xml?: string;
  /** `<member><name>REF</name>` + xml + `</member>` as UTF-8: one entry of get_all_records. */
  xmlMember?: Buffer;
  /** `,"REF":` + json as UTF-8 with DEL escaped: one entry of a JSON get_all_records reply. */
  jsonMember?: Buffer;
}

const cache = new WeakMap<Row, Entry>();

function entry(row: Row): Entry | undefined {
  const version = rowVersion(row);
  if (version === undefined) return undefined; // not a live row (a copy): don't cache
  let e = cache.get(row);
  if (!e || e.version !== version) {
    e = { version };
    cache.set(row, e);
  }
  return e;
}

export function cachedJson(row: Row): string {
  const e = entry(row);
  if (!e) return JSON.stringify(row);
  e.json ??= JSON.stringify(row);
  return e.json;
}

export function cachedXml(row: Row, encode: (row: Row) => string): string {
  const e = entry(row);
  if (!e) return encode(row);
  e.xml ??= encode(row);
  return e.xml;
}

/** The row as one UTF-8 member of an XML-RPC ref → record struct (get_all_records). */
export function cachedXmlMember(row: Row, ref: string, encode: (row: Row) => string): Buffer {
  const e = entry(row);
  const make = () => Buffer.from(`<member><name>${escapeXml(ref)}</name>${encode(row)}</member>`);
  if (!e) return make();
  e.xmlMember ??= make();
  return e.xmlMember;
}

/**
 * The row as one UTF-8 member of a JSON-RPC ref → record object, with its leading comma
 * (`,"REF":{…}`; the first member of a reply drops it) and DEL escaped as jsonSuccess does.
 */
export function cachedJsonMember(row: Row, ref: string): Buffer {
  const e = entry(row);
  const make = () => Buffer.from(fixDel(`,${JSON.stringify(ref)}:${cachedJson(row)}`));
  if (!e) return make();
  e.jsonMember ??= make();
  return e.jsonMember;
}
