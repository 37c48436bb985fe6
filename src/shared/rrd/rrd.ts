// One round-robin database as xapi's xcp-rrdd keeps it (ocaml/libs/xapi-rrd/lib/rrd.ml; reference
// xe-http-xva-rrd.md §6.1): 5 s primary data points (PDPs) consolidated into xapi's four
// timescales. Pure: no I/O, no clock (callers pass times in epoch seconds).
//
// Updates follow xapi's ds_update/rra_update, with four deliberate departures where xapi's
// arithmetic is accidental and rrdtool's is right (docs/decisions.md, "rrd-engine (issue 16)"):
// an unknown reading gives an unknown PDP (xapi repeats the last GAUGE value, then 0); MIN/MAX
// consolidation ignores unknown PDPs (xapi scales them like averages) and a row boundary carries
// no PDP into the next row; a CDP none of whose PDPs is known is NaN (xapi stores 0 or the data
// source's bound); the unknown seconds of a PDP add up (xapi keeps only the last stretch); a
// reading after a gap longer than the heartbeat still becomes the next DERIVE Δ's base. GAUGE and ABSOLUTE keep xapi's deliberate
// "value as is" (CA-404597: the PDP is the reading that crosses the step boundary, not rrdtool's
// time-weighted mean) and DERIVE keeps the 5 % clamp above max (CA-411679).
//
// Storage: one Float64Array per archive (RRA), row-major (a row holds every data source in RRD
// order), as a ring whose newest row is `cur`.

import type { ConsolidationFn } from '../host/stats.js';
import { formatNewRows } from './row-text.js';
import type { DsDef, DsType } from './types.js';

/** PDP length in seconds. */
export const RRD_STEP = 5;
/** xapi's minimal_heartbeat: a gap longer than this makes the PDPs it covers unknown. */
export const RRD_HEARTBEAT = 300;
/** xapi's timescales (rrdd_shared.ml): [rows, PDPs per row]: 10 min, 2 h, 1 week, 1 year. */
export const RRD_TIMESCALES: ReadonlyArray<readonly [rows: number, pdpPerRow: number]> = [
  [120, 1],
  [120, 12],
  [168, 720],
  [366, 17280],
];

/** One data source of an RRD and its PDP being prepared. */
export interface RrdDs {
  name: string;
  type: DsType;
  min: number;
  max: number;
  transform?: 'inverse';
  /** Seconds; a gap between updates longer than this is unknown. */
  heartbeat: number;
  /** Last raw reading (a DERIVE's previous counter); NaN: unknown. */
  last: number;
  /** PDP accumulator: DERIVE: Δ so far in this PDP; GAUGE/ABSOLUTE: the latest rate. */
  value: number;
  /** Seconds of the PDP in preparation that are unknown. */
  unknownSec: number;
  /** Time of this data source's last update (xapi's ds_last_updated; internal dumps keep it). */
  lastUpdated: number;
}

/** One archive: CDPs of one consolidation function, `pdpPerRow` PDPs each, `rows` kept. */
export interface Rra {
  cf: ConsolidationFn;
  rows: number;
  pdpPerRow: number;
  /** Fraction of unknown PDPs above which a CDP is unknown. */
  xff: number;
  /** rows × data sources, row-major; row `cur` is the newest. */
  data: Float64Array;
  cur: number;
  /** Rows pushed since this archive's data array was made (renderers cache text by it). */
  pushes: number;
  /**
   * CDP in preparation, per data source: AVERAGE: Σ known PDPs ÷ pdpPerRow (xapi's cdp_value
   * when nothing is unknown, so dumps interchange); MIN/MAX/LAST: the value so far (±Infinity /
   * NaN: none yet).
   */
  cdpValue: Float64Array;
  /** Unknown PDPs so far in the CDP in preparation, per data source. */
  cdpUnknown: Float64Array;
}

/** An RRD: plain data (not JSON-able: typed arrays and NaN). */
export interface Rrd {
  /** Seconds per PDP (5 for every RRD Berth makes). */
  step: number;
  /** Epoch seconds of the last update (fractional). */
  lastUpdated: number;
  ds: RrdDs[];
  rras: Rra[];
}

/** The archives xapi makes: per timescale AVERAGE (xff 0.5), or AVERAGE/MIN/MAX (xff 1.0) when minMax. */
function archiveLayout(
  minMax: boolean,
): Array<{ cf: ConsolidationFn; rows: number; pdpPerRow: number; xff: number }> {
  const out: Array<{ cf: ConsolidationFn; rows: number; pdpPerRow: number; xff: number }> = [];
  for (const [rows, pdpPerRow] of RRD_TIMESCALES) {
    if (pdpPerRow > 1 && minMax) {
      for (const cf of ['AVERAGE', 'MIN', 'MAX'] as const) out.push({ cf, rows, pdpPerRow, xff: 1.0 });
    } else {
      out.push({ cf: 'AVERAGE', rows, pdpPerRow, xff: 0.5 });
    }
  }
  return out;
}

/** The empty CDP accumulator of a consolidation function. */
export function cdpInit(cf: ConsolidationFn): number {
  switch (cf) {
    case 'AVERAGE':
      return 0;
    case 'MIN':
      return Number.POSITIVE_INFINITY;
    case 'MAX':
      return Number.NEGATIVE_INFINITY;
    default:
      return Number.NaN;
  }
}

function newDs(def: DsDef): RrdDs {
  const ds: RrdDs = {
    name: def.name,
    type: def.type,
    min: def.min,
    max: def.max,
    heartbeat: RRD_HEARTBEAT,
    last: Number.NaN,
    value: 0,
    unknownSec: 0,
    lastUpdated: 0,
  };
  if (def.transform === 'inverse') ds.transform = 'inverse';
  return ds;
}

/** An empty archive for `nds` data sources: every row unknown. */
export function newRra(
  spec: { cf: ConsolidationFn; rows: number; pdpPerRow: number; xff: number },
  nds: number,
): Rra {
  return {
    ...spec,
    data: new Float64Array(spec.rows * nds).fill(Number.NaN),
    cur: spec.rows - 1,
    pushes: 0,
    cdpValue: new Float64Array(nds).fill(cdpInit(spec.cf)),
    cdpUnknown: new Float64Array(nds),
  };
}

function checkDefs(defs: readonly DsDef[]): void {
  const seen = new Set<string>();
  for (const d of defs) {
    if (seen.has(d.name)) throw new RangeError(`duplicate data source ${d.name}`);
    seen.add(d.name);
  }
}

/**
 * A fresh RRD at `time` (xapi's create_fresh_rrd: the archives of §6.1, then one update with every
 * data source unknown, so the CDPs in preparation count the PDPs before `time` as unknown).
 */
export function createRrd(opts: { time: number; ds: DsDef[]; minMax: boolean }): Rrd {
  checkTime(opts.time);
  checkDefs(opts.ds);
  const ds = opts.ds.map(newDs);
  const rrd: Rrd = {
    step: RRD_STEP,
    lastUpdated: 0,
    ds,
    rras: archiveLayout(opts.minMax).map((spec) => newRra(spec, ds.length)),
  };
  update(rrd, opts.time, new Map(), true);
  return rrd;
}

function checkTime(time: number): void {
  if (!Number.isFinite(time) || time < 0) throw new RangeError(`bad RRD time ${time}`);
}

/**
 * Records the readings taken at `time` (epoch seconds): a DERIVE's counter, an ABSOLUTE's amount
 * since the previous reading, a GAUGE's value. Data sources of the RRD absent from `values` (or
 * NaN/±Infinity there) are unknown at this update; names the RRD lacks are ignored.
 */
export function updateRrd(rrd: Rrd, time: number, values: ReadonlyMap<string, number>): void {
  checkTime(time);
  update(rrd, time, values, false);
}

/** Start of the step holding `time` (xapi's get_times: integer seconds, truncated). */
function stepStart(time: number, step: number): number {
  const t = Math.trunc(time);
  return t - (t % step);
}

function update(rrd: Rrd, time: number, values: ReadonlyMap<string, number>, creating: boolean): void {
  const nds = rrd.ds.length;
  // xapi (CA-408841): an RRD without data sources is not updated at all.
  if (nds === 0) return;
  const step = rrd.step;
  // xapi measures the interval from the first data source's last update (internal dumps keep it
  // to the fraction of a second; the RRD's own lastupdate is dumped as an integer).
  const last = rrd.ds[0].lastUpdated;
  let interval = time - last;
  // xapi works around a clock going backwards by pretending 5 s passed.
  if (interval < 0) interval = 5;
  const procPdpSt = stepStart(last, step);
  const occuPdpSt = stepStart(time, step);
  const occuPdpAge = time - occuPdpSt;
  const elapsedPdpSt = Math.trunc((occuPdpSt - procPdpSt) / step);
  const preInt = elapsedPdpSt > 0 ? interval - occuPdpAge : interval;
  const postInt = elapsedPdpSt > 0 ? occuPdpAge : 0;
  rrd.lastUpdated = time;

  // Per data source: the rate this update brings (NaN: unknown), then the PDP accumulators.
  const rates = new Float64Array(nds);
  for (let i = 0; i < nds; i++) {
    const ds = rrd.ds[i];
    const v = creating ? Number.NaN : values.get(ds.name);
    const raw = v !== undefined && Number.isFinite(v) ? v : Number.NaN;
    let rate: number;
    if (interval > ds.heartbeat) rate = Number.NaN;
    else if (ds.type === 'GAUGE') rate = raw;
    else if (ds.type === 'ABSOLUTE') rate = raw / interval;
    else rate = raw - ds.last; // DERIVE: the Δ of the counter (NaN when either is unknown)
    // rrdtool keeps every reading as the next Δ's base, even after a gap (xapi keeps the one
    // before the gap, so the first Δ after it spans the gap over a short interval: a spike).
    ds.last = raw;
    ds.lastUpdated = time;
    rates[i] = rate;
    if (Number.isNaN(rate)) {
      ds.unknownSec += preInt;
    } else if (ds.type === 'DERIVE') {
      ds.value += (preInt * rate) / interval;
    } else {
      ds.value = rate;
    }
  }
  if (elapsedPdpSt <= 0) return;

  // One or more PDPs completed: their value per data source.
  const pdps = new Float64Array(nds);
  for (let i = 0; i < nds; i++) pdps[i] = pdpOf(rrd.ds[i], rates[i], interval, occuPdpSt - procPdpSt);
  for (const rra of rrd.rras) rraUpdate(rra, nds, procPdpSt / step, elapsedPdpSt, pdps);

  // The PDP now in preparation starts with what is left of this update.
  for (let i = 0; i < nds; i++) {
    const ds = rrd.ds[i];
    const rate = rates[i];
    if (Number.isNaN(rate)) {
      ds.value = 0;
      ds.unknownSec = postInt;
    } else {
      ds.unknownSec = 0;
      ds.value = ds.type === 'DERIVE' ? (postInt * rate) / interval : rate;
    }
  }
}

/** The PDP a data source completes at this update (NaN: unknown or out of [min, max]). */
function pdpOf(ds: RrdDs, rate: number, interval: number, span: number): number {
  if (interval > ds.heartbeat) return Number.NaN;
  // DERIVE: the Δ of the PDP's known seconds over them (NaN if none is known). GAUGE/ABSOLUTE:
  // the crossing reading as is (xapi would reuse a stale value when that reading is unknown).
  let raw: number;
  if (ds.type === 'DERIVE') raw = ds.value / (span - ds.unknownSec);
  else if (Number.isNaN(rate)) return Number.NaN;
  else raw = ds.value;
  if (ds.transform === 'inverse') raw = 1 - raw;
  // CA-411679: a DERIVE up to 5 % above its max (CPU accounting jitter) is capped at max.
  if (ds.type === 'DERIVE' && raw > ds.max && raw < ds.max * 1.05) return ds.max;
  if (!(raw >= ds.min && raw <= ds.max)) return Number.NaN;
  return raw;
}

/** Adds `count` copies of PDP `pdp` to data source i's CDP in preparation. */
function accumulate(rra: Rra, i: number, count: number, pdp: number): void {
  if (count <= 0) return;
  if (Number.isNaN(pdp)) {
    rra.cdpUnknown[i] += count;
    return;
  }
  const acc = rra.cdpValue[i];
  switch (rra.cf) {
    case 'AVERAGE':
      rra.cdpValue[i] = acc + (pdp * count) / rra.pdpPerRow;
      break;
    case 'MIN':
      rra.cdpValue[i] = Math.min(pdp, acc);
      break;
    case 'MAX':
      rra.cdpValue[i] = Math.max(pdp, acc);
      break;
    default:
      rra.cdpValue[i] = pdp;
  }
}

/** The CDP data source i's preparation area makes (NaN past xff or with no known PDP). */
function cdpOf(rra: Rra, i: number): number {
  const unknown = rra.cdpUnknown[i];
  const known = rra.pdpPerRow - unknown;
  if (unknown > Math.trunc(rra.xff * rra.pdpPerRow) || known <= 0) return Number.NaN;
  const v = rra.cdpValue[i];
  if (rra.cf === 'AVERAGE') return (v * rra.pdpPerRow) / known;
  return Number.isFinite(v) ? v : Number.NaN;
}

/** xapi's rra_update: feeds `elapsed` PDPs (all equal to `pdps`) after PDP number `procPdp`. */
function rraUpdate(rra: Rra, nds: number, procPdp: number, elapsed: number, pdps: Float64Array): void {
  const n = rra.pdpPerRow;
  const startOffset = n - (procPdp % n);
  const rowsDue = elapsed < startOffset ? 0 : Math.trunc((elapsed - startOffset) / n) + 1;
  const first = Math.min(startOffset, elapsed);
  for (let i = 0; i < nds; i++) accumulate(rra, i, first, pdps[i]);
  if (rowsDue === 0) return;
  // The first row completes the CDP in preparation; any further ones hold just this PDP.
  let row = pushRow(rra, nds);
  for (let i = 0; i < nds; i++) rra.data[row + i] = cdpOf(rra, i);
  const repeats = Math.min(rowsDue - 1, rra.rows);
  for (let r = 0; r < repeats; r++) {
    row = pushRow(rra, nds);
    for (let i = 0; i < nds; i++) rra.data[row + i] = pdps[i];
  }
  formatNewRows(rra, nds, repeats + 1);
  const carried = (elapsed - startOffset) % n;
  const init = cdpInit(rra.cf);
  for (let i = 0; i < nds; i++) {
    rra.cdpValue[i] = init;
    rra.cdpUnknown[i] = 0;
    accumulate(rra, i, carried, pdps[i]);
  }
}

/** Advances the ring one row; returns the offset of the new newest row. */
function pushRow(rra: Rra, nds: number): number {
  rra.cur = rra.cur + 1 === rra.rows ? 0 : rra.cur + 1;
  rra.pushes++;
  return rra.cur * nds;
}

/** Rebuilds every archive with data source columns chosen by `pick` (−1: a new all-unknown column). */
function reshape(rrd: Rrd, pick: number[], fresh: (rra: Rra) => { value: number; unknown: number }): void {
  const oldN = rrd.ds.length;
  const newN = pick.length;
  for (const rra of rrd.rras) {
    const data = new Float64Array(rra.rows * newN);
    for (let r = 0; r < rra.rows; r++) {
      for (let j = 0; j < newN; j++) {
        const src = pick[j];
        data[r * newN + j] = src < 0 ? Number.NaN : rra.data[r * oldN + src];
      }
    }
    const cdpValue = new Float64Array(newN);
    const cdpUnknown = new Float64Array(newN);
    for (let j = 0; j < newN; j++) {
      const src = pick[j];
      if (src < 0) {
        const f = fresh(rra);
        cdpValue[j] = f.value;
        cdpUnknown[j] = f.unknown;
      } else {
        cdpValue[j] = rra.cdpValue[src];
        cdpUnknown[j] = rra.cdpUnknown[src];
      }
    }
    rra.data = data;
    rra.cdpValue = cdpValue;
    rra.cdpUnknown = cdpUnknown;
  }
}

/**
 * Adds a data source (xapi's rrd_add_ds): no-op if one of that name exists; its archives start
 * unknown, its CDPs in preparation count the PDPs of the current row before `time` as unknown.
 */
export function addDs(rrd: Rrd, def: DsDef, time: number): void {
  if (rrd.ds.some((d) => d.name === def.name)) return;
  const npdps = Math.trunc(Math.trunc(time) / rrd.step);
  const pick = rrd.ds.map((_, i) => i);
  pick.push(-1);
  reshape(rrd, pick, (rra) => ({ value: cdpInit(rra.cf), unknown: npdps % rra.pdpPerRow }));
  rrd.ds.push(newDs(def));
}

/** Removes a data source and its archives (xapi's rrd_remove_ds); no-op if absent. */
export function removeDs(rrd: Rrd, name: string): void {
  const n = rrd.ds.findIndex((d) => d.name === name);
  if (n < 0) return;
  const pick = rrd.ds.map((_, i) => i).filter((i) => i !== n);
  reshape(rrd, pick, () => ({ value: 0, unknown: 0 }));
  rrd.ds.splice(n, 1);
}

/** Sets or clears a data source's `inverse` transform (dumps do not carry it: callers re-apply it from the catalog after parseDumpXml). */
export function setDsTransform(rrd: Rrd, name: string, transform: 'inverse' | undefined): void {
  const ds = rrd.ds.find((d) => d.name === name);
  if (!ds) return;
  if (transform) ds.transform = transform;
  else delete ds.transform;
}

/** The data sources, in RRD order. */
export function dsDefs(rrd: Rrd): DsDef[] {
  return rrd.ds.map((d) => {
    const def: DsDef = { name: d.name, type: d.type, min: d.min, max: d.max };
    if (d.transform) def.transform = d.transform;
    return def;
  });
}

/** Value of the newest row of archive `rra`, data source column `i`. */
export function newest(rrd: Rrd, rra: Rra, i: number): number {
  return rra.data[rra.cur * rrd.ds.length + i];
}

/**
 * The latest PDP of a data source (xapi's query_named_ds: newest row of the finest AVERAGE
 * archive), NaN when unknown; undefined when the RRD has no such data source.
 */
export function lastValue(rrd: Rrd, name: string): number | undefined {
  const i = rrd.ds.findIndex((d) => d.name === name);
  if (i < 0) return undefined;
  const rra = rrd.rras.find((r) => r.cf === 'AVERAGE') ?? rrd.rras[0];
  if (!rra) return Number.NaN;
  return newest(rrd, rra, i);
}

/** Value `age` rows back (0: newest) of archive `rra`, data source column `i`. */
export function rowValue(rra: Rra, nds: number, age: number, i: number): number {
  let r = rra.cur - age;
  if (r < 0) r += rra.rows;
  return rra.data[r * nds + i];
}
