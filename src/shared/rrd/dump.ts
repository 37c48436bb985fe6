// Full RRD dumps (xe-http-xva-rrd.md §6.3), as xapi's Rrd.xml_to_output / Rrd.Json / Rrd.from_xml:
// the rrdtool-like XML of `/host_rrd`, `/vm_rrd`, `/sr_rrd` and of the archives on disk
// (`internal`: with each data source's last_updated), its JSON variant, and the reader.

import { SaxesParser } from 'saxes';
import {
  type Doc,
  floatOfString,
  MAX_DUMP_VALUES,
  type ParsedDs,
  type ParsedRra,
  scanDump,
} from './dump-scan.js';
import type { ConsolidationFn } from '../host/stats.js';
import { formatFloat, formatInt, xmlEscape } from './format.js';
import { type Rra, type Rrd, type RrdDs, RRD_TIMESCALES } from './rrd.js';
import { EAGER_PDP_PER_ROW, keepRowText } from './row-text.js';
import type { DsType } from './types.js';

/** A dump that cannot be read: malformed XML, a missing or bad field, inconsistent archives. */
export class RrdFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RrdFormatError';
  }
}

/**
 * xapi's last_ds: an integer reading as an int64 (`%Ld`), a fractional one as a float, an unknown
 * one `0.0` (xapi's VT_Unknown).
 */
function formatLastDs(x: number): string {
  if (Number.isNaN(x)) return '0.0';
  if (Number.isSafeInteger(x)) return x.toFixed(0);
  return formatFloat(x);
}

/** Values of ring row `r` (0: oldest) of an archive, as stored: the ring is read oldest first. */
function ringRowStart(rra: Rra, nds: number, r: number): number {
  let idx = rra.cur + 1 + r;
  if (idx >= rra.rows) idx -= rra.rows;
  return idx * nds;
}

/** The XML dump: declaration, newline, then one line (`internal` adds `<last_updated>` per DS). */
export function dumpXml(rrd: Rrd, opts: { internal?: boolean } = {}): string {
  const nds = rrd.ds.length;
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<rrd><version>0003</version><step>',
    formatInt(rrd.step),
    '</step><lastupdate>',
    formatInt(rrd.lastUpdated),
    '</lastupdate>',
  ];
  for (const ds of rrd.ds) {
    out.push(
      `<ds><name>${xmlEscape(ds.name)}</name><type>${ds.type}</type><minimal_heartbeat>${formatFloat(ds.heartbeat)}`,
      `</minimal_heartbeat><min>${formatFloat(ds.min)}</min><max>${formatFloat(ds.max)}</max><last_ds>`,
      `${formatLastDs(ds.last)}</last_ds><value>${formatFloat(ds.value)}</value><unknown_sec>`,
      `${formatInt(ds.unknownSec)}</unknown_sec>`,
    );
    if (opts.internal) out.push(`<last_updated>${formatFloat(ds.lastUpdated)}</last_updated>`);
    out.push('</ds>');
  }
  for (const rra of rrd.rras) {
    out.push(
      `<rra><cf>${rra.cf}</cf><pdp_per_row>${rra.pdpPerRow}</pdp_per_row><params><xff>${formatFloat(rra.xff)}</xff></params>`,
    );
    if (nds === 0) out.push('<cdp_prep/><database/></rra>');
    else {
      out.push('<cdp_prep>');
      for (let i = 0; i < nds; i++) {
        out.push(
          `<ds><primary_value>0.0</primary_value><secondary_value>0.0</secondary_value><value>${formatFloat(rra.cdpValue[i])}`,
          `</value><unknown_datapoints>${formatInt(rra.cdpUnknown[i])}</unknown_datapoints></ds>`,
        );
      }
      out.push('</cdp_prep><database>');
      for (let r = 0; r < rra.rows; r++) {
        const at = ringRowStart(rra, nds, r);
        let row = '<row>';
        for (let i = 0; i < nds; i++) row += `<v>${formatFloat(rra.data[at + i])}</v>`;
        out.push(row, '</row>');
      }
      out.push('</database></rra>');
    }
  }
  out.push('</rrd>');
  return out.join('');
}

const str = (s: string) => JSON.stringify(s);
const fl = (x: number) => `"${formatFloat(x)}"`;

/** The JSON dump: xapi's Rrd.Json (every scalar a string, `unknown_sec` and `last_updated` as floats). */
export function dumpJson(rrd: Rrd): string {
  const nds = rrd.ds.length;
  const ds = rrd.ds.map(
    (d) =>
      `{"name":${str(d.name)},"type":"${d.type}","minimal_heartbeat":${fl(d.heartbeat)},"min":${fl(d.min)},` +
      `"max":${fl(d.max)},"last_ds":"${formatLastDs(d.last)}","value":${fl(d.value)},` +
      `"unknown_sec":${fl(d.unknownSec)},"last_updated":${fl(d.lastUpdated)}}`,
  );
  const rras = rrd.rras.map((rra) => {
    const cdps: string[] = [];
    for (let i = 0; i < nds; i++) {
      cdps.push(
        `{"primary_value":"0.0","secondary_value":"0.0","value":${fl(rra.cdpValue[i])},` +
          `"unknown_datapoints":"${formatInt(rra.cdpUnknown[i])}"}`,
      );
    }
    const rows: string[] = [];
    if (nds > 0) {
      for (let r = 0; r < rra.rows; r++) {
        const at = ringRowStart(rra, nds, r);
        const vs: string[] = [];
        for (let i = 0; i < nds; i++) vs.push(fl(rra.data[at + i]));
        rows.push(`[${vs.join(',')}]`);
      }
    }
    return (
      `{"cf":"${rra.cf}","pdp_per_row":"${rra.pdpPerRow}","params":{"xff":${fl(rra.xff)}},` +
      `"cdp_prep":{"ds":[${cdps.join(',')}]},"database":[${rows.join(',')}]}`
    );
  });
  return (
    `{"version":"0003","step":"${formatInt(rrd.step)}","lastupdate":${fl(rrd.lastUpdated)},` +
    `"ds":[${ds.join(',')}],"rra":[${rras.join(',')}]}`
  );
}

// ---- Reading ----------------------------------------------------------------------------------

export { MAX_DUMP_VALUES };
const MAX_DEPTH = 8;

const INT = /^[+-]?\d+$/;

/** OCaml's float_of_string for the forms dumps use (decimal, NaN, ±Infinity/inf). */
function parseFloatField(s: string, what: string): number {
  const t = s.trim();
  const x = floatOfString(t);
  if (x === undefined) throw new RrdFormatError(`${what}: not a number: ${t.slice(0, 40)}`);
  return x;
}

function parseIntField(s: string, what: string, min: number, max: number): number {
  const t = s.trim();
  if (!INT.test(t)) throw new RrdFormatError(`${what}: not an integer: ${t.slice(0, 40)}`);
  const n = Number(t);
  if (!(n >= min && n <= max)) throw new RrdFormatError(`${what}: ${t} out of range`);
  return n;
}

const DS_FIELDS = ['name', 'type', 'minimal_heartbeat', 'min', 'max', 'last_ds', 'value', 'unknown_sec'];
const DS_OPTIONAL = ['last_updated'];
const CDP_FIELDS = ['primary_value', 'secondary_value', 'value', 'unknown_datapoints'];
const RRD_FIELDS = ['version', 'step', 'lastupdate'];

/** Element paths allowed, as parent path → child names. Leaves hold text; the rest only elements. */
const CHILDREN: Record<string, string[]> = {
  '': ['rrd'],
  rrd: [...RRD_FIELDS, 'ds', 'rra'],
  'rrd/ds': [...DS_FIELDS, ...DS_OPTIONAL],
  'rrd/rra': ['cf', 'pdp_per_row', 'params', 'cdp_prep', 'database'],
  'rrd/rra/params': ['xff'],
  'rrd/rra/cdp_prep': ['ds'],
  'rrd/rra/cdp_prep/ds': CDP_FIELDS,
  'rrd/rra/database': ['row'],
  'rrd/rra/database/row': ['v'],
};

/** Streams the XML through saxes into fields and numbers (no tree: a dump may hold millions of <v>). */
function saxScan(text: string): Doc {
  const doc: Doc = { fields: new Map(), ds: [], rras: [] };
  const path: string[] = [];
  const paths: string[] = [''];
  let leafText: string | null = null;
  let values = 0;
  let curDs: ParsedDs | null = null;
  let curRra: ParsedRra | null = null;
  let curCdp: Map<string, string> | null = null;
  let rowWidth = 0;
  let rootSeen = false;
  const parser = new SaxesParser({ xmlns: false, position: false });
  const fail = (m: string): never => {
    throw new RrdFormatError(m);
  };
  parser.on('doctype', () => fail('DOCTYPE not allowed'));
  parser.on('opentag', (tag) => {
    if (leafText !== null) fail(`<${tag.name}> inside a value`);
    const parent = paths[paths.length - 1];
    const allowed = CHILDREN[parent];
    if (!allowed?.includes(tag.name)) fail(`unexpected <${tag.name}> in <${parent || 'document'}>`);
    if (Object.keys(tag.attributes).length > 0) fail(`attributes on <${tag.name}>`);
    if (path.length >= MAX_DEPTH) fail('nested too deeply');
    const p = parent ? `${parent}/${tag.name}` : tag.name;
    path.push(tag.name);
    paths.push(p);
    switch (p) {
      case 'rrd':
        if (rootSeen) fail('more than one <rrd>');
        rootSeen = true;
        return;
      case 'rrd/ds':
        if (doc.rras.length > 0) fail('<ds> after <rra>');
        curDs = { fields: new Map() };
        doc.ds.push(curDs);
        return;
      case 'rrd/rra':
        curRra = { fields: new Map(), cdps: [], rows: 0, values: [], rowWidths: [] };
        doc.rras.push(curRra);
        return;
      case 'rrd/rra/params':
      case 'rrd/rra/cdp_prep':
      case 'rrd/rra/database':
        if (curRra?.fields.has(p)) fail(`two <${tag.name}> in one <rra>`);
        curRra?.fields.set(p, '');
        return;
      case 'rrd/rra/cdp_prep/ds':
        curCdp = new Map();
        curRra?.cdps.push(curCdp);
        return;
      case 'rrd/rra/database/row':
        rowWidth = 0;
        return;
      default:
        leafText = '';
    }
  });
  parser.on('text', (t) => {
    if (leafText !== null) leafText += t;
    else if (!/^[ \t\r\n]*$/.test(t)) fail('text outside a value');
  });
  parser.on('cdata', (t) => {
    if (leafText === null) fail('CDATA outside a value');
    leafText += t;
  });
  parser.on('closetag', (tag) => {
    const p = paths.pop() as string;
    path.pop();
    if (leafText !== null) {
      const v = leafText;
      leafText = null;
      const put = (m: Map<string, string>, k: string) => {
        if (m.has(k)) fail(`two <${k}>`);
        m.set(k, v);
      };
      switch (p) {
        case 'rrd/version':
        case 'rrd/step':
        case 'rrd/lastupdate':
          if (doc.ds.length > 0 || doc.rras.length > 0) fail(`<${tag.name}> after the data sources`);
          put(doc.fields, tag.name);
          return;
        case 'rrd/rra/database/row/v':
          if (++values > MAX_DUMP_VALUES) fail('too many values');
          if (curRra) (curRra.values as number[]).push(parseFloatField(v, 'v'));
          rowWidth++;
          return;
        case 'rrd/rra/cf':
        case 'rrd/rra/pdp_per_row':
        case 'rrd/rra/params/xff':
          if (curRra) put(curRra.fields, tag.name);
          return;
        default:
          if (p.startsWith('rrd/rra/cdp_prep/ds/') && curCdp) put(curCdp, tag.name);
          else if (p.startsWith('rrd/ds/') && curDs) put(curDs.fields, tag.name);
          return;
      }
    }
    if (p === 'rrd/rra/database/row' && curRra) {
      curRra.rows++;
      curRra.rowWidths.push(rowWidth);
    }
  });
  try {
    parser.write(text).close();
  } catch (e) {
    if (e instanceof RrdFormatError) throw e;
    throw new RrdFormatError(`XML: ${(e as Error).message.slice(0, 200)}`);
  }
  if (!rootSeen) fail('no <rrd>');
  return doc;
}

function need(m: Map<string, string>, k: string, where: string): string {
  const v = m.get(k);
  if (v === undefined) throw new RrdFormatError(`${where}: missing <${k}>`);
  return v;
}

const DS_TYPES: readonly DsType[] = ['GAUGE', 'DERIVE', 'ABSOLUTE'];
const CFS: readonly ConsolidationFn[] = ['AVERAGE', 'MIN', 'MAX', 'LAST'];

function readDs(p: ParsedDs, lastupdate: number): RrdDs {
  const f = p.fields;
  const name = need(f, 'name', 'ds');
  const where = `ds ${name.slice(0, 60)}`;
  for (const k of DS_FIELDS) need(f, k, where);
  const type = f.get('type') as DsType;
  if (!DS_TYPES.includes(type)) throw new RrdFormatError(`${where}: bad type`);
  const heartbeat = parseFloatField(need(f, 'minimal_heartbeat', where), `${where} minimal_heartbeat`);
  if (!(heartbeat > 0)) throw new RrdFormatError(`${where}: bad minimal_heartbeat`);
  // xapi (CA-408126): a negative min in an old dump is read as 0, so negative history becomes NaN.
  const min = Math.max(parseFloatField(need(f, 'min', where), `${where} min`), 0);
  const max = parseFloatField(need(f, 'max', where), `${where} max`);
  if (Number.isNaN(min) || Number.isNaN(max) || min > max) throw new RrdFormatError(`${where}: bad min/max`);
  const lastDs = need(f, 'last_ds', where).trim();
  const last = lastDs === '0.0' ? Number.NaN : parseFloatField(lastDs, `${where} last_ds`);
  const value = parseFloatField(need(f, 'value', where), `${where} value`);
  const unknownSec = parseFloatField(need(f, 'unknown_sec', where), `${where} unknown_sec`);
  if (!(unknownSec >= 0) || !Number.isFinite(unknownSec))
    throw new RrdFormatError(`${where}: bad unknown_sec`);
  const lu = f.get('last_updated');
  const lastUpdated = lu === undefined ? lastupdate : parseFloatField(lu, `${where} last_updated`);
  if (!Number.isFinite(lastUpdated)) throw new RrdFormatError(`${where}: bad last_updated`);
  return { name, type, min, max, heartbeat, last, value, unknownSec, lastUpdated };
}

function readRra(p: ParsedRra, k: number, ds: RrdDs[], keep: number[], nAll: number, text?: string): Rra {
  const where = `rra ${k}`;
  const f = p.fields;
  const cf = need(f, 'cf', where).trim() as ConsolidationFn;
  if (!CFS.includes(cf)) throw new RrdFormatError(`${where}: bad cf`);
  const pdpPerRow = parseIntField(need(f, 'pdp_per_row', where), `${where} pdp_per_row`, 1, 1e9);
  need(f, 'rrd/rra/params', where);
  const xff = parseFloatField(need(f, 'xff', where), `${where} xff`);
  if (!(xff >= 0 && xff <= 1)) throw new RrdFormatError(`${where}: bad xff`);
  need(f, 'rrd/rra/cdp_prep', where);
  need(f, 'rrd/rra/database', where);
  if (p.cdps.length !== nAll)
    throw new RrdFormatError(`${where}: ${p.cdps.length} cdp_prep entries for ${nAll} data sources`);
  for (const w of p.rowWidths) {
    if (w !== nAll) throw new RrdFormatError(`${where}: a row of ${w} values for ${nAll} data sources`);
  }
  let rows = p.rows;
  if (nAll === 0) rows = RRD_TIMESCALES.find(([, n]) => n === pdpPerRow)?.[0] ?? Math.max(rows, 1);
  else if (rows === 0) throw new RrdFormatError(`${where}: no rows`);
  const nds = keep.length;
  const data = new Float64Array(rows * nds);
  for (let r = 0; r < rows && nAll > 0; r++) {
    for (let j = 0; j < nds; j++) {
      const v = p.values[r * nAll + keep[j]];
      const d = ds[j];
      // xapi's Fring: values outside the data source's [min, max] are NaN.
      data[r * nds + j] = v < d.min || v > d.max ? Number.NaN : v;
    }
  }
  const cdpValue = new Float64Array(nds);
  const cdpUnknown = new Float64Array(nds);
  for (let j = 0; j < nds; j++) {
    const c = p.cdps[keep[j]];
    const cw = `${where} cdp ${keep[j]}`;
    for (const key of CDP_FIELDS) need(c, key, cw);
    cdpValue[j] = parseFloatField(need(c, 'value', cw), `${cw} value`);
    cdpUnknown[j] = parseIntField(
      need(c, 'unknown_datapoints', cw),
      `${cw} unknown_datapoints`,
      0,
      pdpPerRow,
    );
  }
  const rra: Rra = { cf, rows, pdpPerRow, xff, data, cur: rows - 1, pushes: 0, cdpValue, cdpUnknown };
  if (p.spans && text !== undefined && nds === nAll && nds > 0) keepRowTexts(rra, nds, p.spans, text);
  return rra;
}

/**
 * Keeps the `/rrd_updates` text of the rows of a finely grained archive read by the fast path:
 * each value's own text in the dump when it is formatFloat's (NaN where the ring holds NaN). A
 * row with any other text is left to be formatted at its first poll.
 */
function keepRowTexts(rra: Rra, nds: number, spans: Int32Array, text: string): void {
  const vs: string[] = new Array(nds);
  rows: for (let r = 0; r < rra.rows; r++) {
    for (let j = 0; j < nds; j++) {
      const at = r * nds + j;
      if (Number.isNaN(rra.data[at])) vs[j] = 'NaN';
      else if (spans[2 * at] >= 0) vs[j] = text.slice(spans[2 * at], spans[2 * at + 1]);
      else continue rows;
    }
    keepRowText(rra, r, vs);
  }
}

/**
 * Reads an XML dump, internal (`<last_updated>` per DS) or external, including older forms
 * (`<xff>0.5000</xff>`, whitespace between elements). Negative `min` is read as 0 and a data
 * source named twice keeps its last instance, as xapi. Throws RrdFormatError on anything else
 * amiss. Dumps carry no `inverse` transform: re-apply it with setDsTransform.
 */
export function parseDumpXml(text: string): Rrd {
  if (typeof text !== 'string') throw new RrdFormatError('dump is not text');
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const doc = scanDump(body, EAGER_PDP_PER_ROW) ?? saxScan(body);
  for (const k of RRD_FIELDS) need(doc.fields, k, 'rrd');
  const step = parseIntField(need(doc.fields, 'step', 'rrd'), 'step', 1, 86400);
  const lastUpdated = parseFloatField(need(doc.fields, 'lastupdate', 'rrd'), 'lastupdate');
  if (!(lastUpdated >= 0) || !Number.isFinite(lastUpdated)) throw new RrdFormatError('bad lastupdate');
  const all = doc.ds.map((d) => readDs(d, lastUpdated));
  // xapi purges repeated names by removing the first instances: the last one stays.
  const lastIndex = new Map<string, number>();
  for (let i = 0; i < all.length; i++) lastIndex.set(all[i].name, i);
  const keep = all.map((_, i) => i).filter((i) => lastIndex.get(all[i].name) === i);
  const ds = keep.map((i) => all[i]);
  const rras = doc.rras.map((r, k) => readRra(r, k, ds, keep, all.length, doc.text));
  // The XML keeps lastupdate as an integer; an internal dump's data sources keep the fraction.
  const precise = ds[0]?.lastUpdated;
  const last =
    precise !== undefined && Math.trunc(precise) === Math.trunc(lastUpdated) ? precise : lastUpdated;
  return { step, lastUpdated: last, ds, rras };
}

export type { Rrd };
