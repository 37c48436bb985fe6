// `/rrd_updates` bodies (xe-http-xva-rrd.md §6.4), as xapi's Rrd_updates.create_multi/export: the
// rows of the archive that fits the query, newest first, for several RRDs side by side.

import type { ConsolidationFn, RrdOwner } from '../host/stats.js';
import { formatFloat, formatInt, xmlEscape } from './format.js';
import type { Rra, Rrd } from './rrd.js';

export interface XportSource {
  owner: RrdOwner;
  uuid: string;
  rrd: Rrd;
}

export interface XportQuery {
  /** Epoch seconds; negative: relative to each RRD's last update. */
  start: number;
  /** Seconds between rows wanted; 0: the finest archive holding `start`. */
  interval: number;
  /** Absent: every consolidation function at the chosen resolution. */
  cf?: ConsolidationFn;
}

/**
 * xapi's No_RRA_Available: no source, or an RRD with no archive of the asked CF, or none with rows
 * as coarse as `interval`. (xcp-rrdd lets the exception end the request.)
 */
export class NoRraAvailableError extends Error {
  constructor(message = 'no RRA available') {
    super(message);
    this.name = 'NoRraAvailableError';
  }
}

/** Start (integer seconds) of the period of `step` seconds holding `time`, as OCaml's Int64 division. */
function periodStart(time: number, step: number): number {
  return Math.trunc(Math.trunc(time) / step) * step;
}

/**
 * xapi's find_best_rras: the archives (of `cf`, or all) of the first timescale whose rows are at
 * least `pdpInterval` PDPs and whose span still holds `start`; else those of the coarsest span.
 */
export function findBestRras(
  rrd: Rrd,
  pdpInterval: number,
  cf: ConsolidationFn | undefined,
  start: number,
): Rra[] {
  const rras = cf ? rrd.rras.filter((r) => r.cf === cf) : rrd.rras;
  if (rras.length === 0) throw new NoRraAvailableError(`no ${cf ?? ''} archive`);
  const lastPdpTime = periodStart(rrd.lastUpdated, rrd.step);
  const holds = (t: number, rra: Rra) =>
    rra.pdpPerRow >= pdpInterval && t > lastPdpTime - rrd.step * rra.rows * rra.pdpPerRow;
  const first = rras.find((r) => holds(start, r));
  if (first) return rras.filter((r) => r.rows === first.rows && r.pdpPerRow === first.pdpPerRow);
  const coarsest = rras[rras.length - 1];
  const oldest = 1 + lastPdpTime - rrd.step * coarsest.rows * coarsest.pdpPerRow;
  return rras.filter((r) => holds(oldest, r));
}

interface Table {
  start: number;
  step: number;
  end: number;
  legend: string[];
  /** Row times, newest first. */
  times: number[];
  /** Column blocks in legend order: an archive and its RRD's data-source count (a whole row each). */
  blocks: Array<{ rra: Rra; nds: number }>;
}

/** xapi's create_multi: which archives and rows answer the query. */
function table(sources: readonly XportSource[], q: XportQuery): Table {
  if (sources.length === 0) throw new NoRraAvailableError('no RRD to export');
  const { step, lastUpdated } = sources[0].rrd;
  const pdpInterval = Math.trunc(Math.trunc(q.interval) / step);
  const same = sources.filter((s) => s.rrd.step === step);
  const qStart = Math.trunc(q.start);
  let start = Number.MAX_SAFE_INTEGER;
  for (const s of same) {
    const t = qStart < 0 ? qStart + Math.trunc(s.rrd.lastUpdated) : qStart;
    if (t < start) start = t;
  }
  const chosen = same.map((s) => findBestRras(s.rrd, pdpInterval, q.cf, start));
  const firstRra = chosen.find((c) => c.length > 0)?.[0];
  if (!firstRra) throw new NoRraAvailableError();
  const legend: string[] = [];
  const blocks: Table['blocks'] = [];
  same.forEach((s, k) => {
    const nds = s.rrd.ds.length;
    for (const rra of chosen[k]) {
      if (rra.pdpPerRow !== firstRra.pdpPerRow || rra.rows !== firstRra.rows) continue;
      blocks.push({ rra, nds });
      for (let d = 0; d < nds; d++) legend.push(`${rra.cf}:${s.owner}:${s.uuid}:${s.rrd.ds[d].name}`);
    }
  });
  const rraStep = step * firstRra.pdpPerRow;
  const end = periodStart(lastUpdated, rraStep);
  const times: number[] = [];
  for (let i = 0; i < firstRra.rows; i++) {
    const t = end - i * rraStep;
    if (t < start) break;
    times.push(t);
  }
  return { start: periodStart(start, rraStep) + rraStep, step: rraStep, end, legend, times, blocks };
}

/**
 * The `/rrd_updates` body (XML, or JSON with every scalar a string) for `sources` in the order
 * given (the caller puts the host first, then VMs, then SRs). Throws NoRraAvailableError as xapi.
 */
export function rrdUpdates(sources: readonly XportSource[], q: XportQuery, json: boolean): string {
  const t = table(sources, q);
  return json ? renderJson(t) : renderXml(t);
}

/**
 * Formatted rows of an archive, kept while the archive's data array lives: a row written once is
 * formatted once, however often clients poll (XenCenter and Xen Orchestra ask every 5 s).
 */
interface RowText {
  /**
   * Per ring row: its serial (`pushes` − age) when it was formatted; NaN: never. Not −1: an RRD
   * read back from a dump counts pushes from 0, so its row one back has serial −1.
   */
  stamp: Float64Array;
  /** Per ring row: `<v>a</v><v>b</v>…` and `"a","b",…`. */
  xml: string[];
  json: string[];
}

const rowTexts = new WeakMap<Float64Array, RowText>();

/** Ring row `age` rows back of an archive, formatted (formatting it now if not yet). */
function rowText(rra: Rra, nds: number, age: number, json: boolean): string {
  let cache = rowTexts.get(rra.data);
  if (!cache) {
    cache = {
      stamp: new Float64Array(rra.rows).fill(Number.NaN),
      xml: new Array(rra.rows),
      json: new Array(rra.rows),
    };
    rowTexts.set(rra.data, cache);
  }
  let r = rra.cur - age;
  if (r < 0) r += rra.rows;
  const serial = rra.pushes - age;
  if (cache.stamp[r] !== serial) {
    const at = r * nds;
    const vs: string[] = new Array(nds);
    for (let i = 0; i < nds; i++) vs[i] = formatFloat(rra.data[at + i]);
    cache.xml[r] = nds === 0 ? '' : `<v>${vs.join('</v><v>')}</v>`;
    cache.json[r] = nds === 0 ? '' : `"${vs.join('","')}"`;
    cache.stamp[r] = serial;
  }
  return json ? cache.json[r] : cache.xml[r];
}

function renderXml(t: Table): string {
  const parts: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<xport><meta><start>',
    formatInt(t.start),
    '</start><step>',
    formatInt(t.step),
    '</step><end>',
    formatInt(t.end),
    '</end><rows>',
    String(t.times.length),
    '</rows><columns>',
    String(t.legend.length),
    '</columns>',
  ];
  if (t.legend.length === 0) parts.push('<legend/>');
  else parts.push('<legend><entry>', t.legend.map(xmlEscape).join('</entry><entry>'), '</entry></legend>');
  parts.push('</meta>');
  if (t.times.length === 0) parts.push('<data/>');
  else {
    parts.push('<data>');
    for (let i = 0; i < t.times.length; i++) {
      parts.push('<row><t>', formatInt(t.times[i]), '</t>');
      for (const b of t.blocks) {
        parts.push(rowText(b.rra, b.nds, i, false));
      }
      parts.push('</row>');
    }
    parts.push('</data>');
  }
  parts.push('</xport>');
  return parts.join('');
}

function renderJson(t: Table): string {
  const parts: string[] = [
    '{"meta":{"start":"',
    formatInt(t.start),
    '","step":"',
    formatInt(t.step),
    '","end":"',
    formatInt(t.end),
    '","rows":"',
    String(t.times.length),
    '","columns":"',
    String(t.legend.length),
    '","legend":[',
    t.legend.map((l) => JSON.stringify(l)).join(','),
    ']},"data":[',
  ];
  for (let i = 0; i < t.times.length; i++) {
    parts.push(i === 0 ? '{"t":"' : ',{"t":"', formatInt(t.times[i]), '","values":[');
    let first = true;
    for (const b of t.blocks) {
      if (b.nds === 0) continue;
      if (!first) parts.push(',');
      parts.push(rowText(b.rra, b.nds, i, true));
      first = false;
    }
    parts.push(']}');
  }
  parts.push(']}');
  return parts.join('');
}
