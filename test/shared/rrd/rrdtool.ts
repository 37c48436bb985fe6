// Runs Debian's real rrdtool on the same definitions and updates as Berth's engine, and reads
// back every archive's rows (from `rrdtool dump`) with their times, for comparison.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Rra, type Rrd, rowValue } from '../../../src/shared/rrd/rrd.js';
import type { DsDef } from '../../../src/shared/rrd/types.js';

export interface Update {
  time: number;
  /** By data source name; absent or NaN: unknown (`U`). */
  values: Record<string, number>;
}

/** One archive's rows: time → values in DS order. */
export interface Archive {
  cf: string;
  pdpPerRow: number;
  rows: Map<number, number[]>;
}

const bound = (x: number) => (Number.isFinite(x) ? String(x) : 'U');

/** rrdtool create + update (batched) + dump, with xapi's archive layout. */
export function rrdtoolArchives(
  dir: string,
  opts: { start: number; ds: DsDef[]; minMax: boolean; updates: Update[] },
): Archive[] {
  const file = join(dir, `t${Math.random().toString(36).slice(2)}.rrd`);
  const args = ['create', file, '--start', String(opts.start), '--step', '5'];
  for (const d of opts.ds) args.push(`DS:${d.name}:${d.type}:300:${bound(d.min)}:${bound(d.max)}`);
  for (const [rows, pdp] of [
    [120, 1],
    [120, 12],
    [168, 720],
    [366, 17280],
  ]) {
    // rrdtool refuses xapi's xff 1.0 (it wants < 1); 0.99999 is the same for these PDP counts: a
    // CDP is unknown only when all its PDPs are.
    if (pdp > 1 && opts.minMax)
      for (const cf of ['AVERAGE', 'MIN', 'MAX']) args.push(`RRA:${cf}:0.99999:${pdp}:${rows}`);
    else args.push(`RRA:AVERAGE:0.5:${pdp}:${rows}`);
  }
  execFileSync('rrdtool', args);
  const template = opts.ds.map((d) => d.name).join(':');
  for (let i = 0; i < opts.updates.length; i += 500) {
    const batch = opts.updates.slice(i, i + 500).map((u) => {
      const vs = opts.ds.map((d) => {
        const v = u.values[d.name];
        return v === undefined || !Number.isFinite(v) ? 'U' : String(v);
      });
      return `${u.time}:${vs.join(':')}`;
    });
    execFileSync('rrdtool', ['update', file, '--template', template, ...batch]);
  }
  return dumpArchives(file);
}

/** `rrdtool restore` of a dump (Berth's XML), then its archives as rrdtool reads them. */
export function rrdtoolRestore(dir: string, xml: string): Archive[] {
  const src = join(dir, 'restore.xml');
  const file = join(dir, `r${Math.random().toString(36).slice(2)}.rrd`);
  writeFileSync(src, xml);
  execFileSync('rrdtool', ['restore', src, file]);
  return dumpArchives(file);
}

function dumpArchives(file: string): Archive[] {
  const xml = execFileSync('rrdtool', ['dump', file], { maxBuffer: 256 << 20 }).toString();
  const out: Archive[] = [];
  for (const m of xml.matchAll(/<rra>([\s\S]*?)<\/rra>/g)) {
    const body = m[1];
    const cf = /<cf>\s*(\w+)\s*<\/cf>/.exec(body)?.[1] ?? '?';
    const pdpPerRow = Number(/<pdp_per_row>\s*(\d+)\s*<\/pdp_per_row>/.exec(body)?.[1]);
    const rows = new Map<number, number[]>();
    for (const r of body.matchAll(/\/ (\d+) --> <row>(.*?)<\/row>/g)) {
      rows.set(
        Number(r[1]),
        [...r[2].matchAll(/<v>\s*([^<\s]+)\s*<\/v>/g)].map((v) =>
          v[1] === 'NaN' ? Number.NaN : Number(v[1]),
        ),
      );
    }
    out.push({ cf, pdpPerRow, rows });
  }
  return out;
}

/** The same view of Berth's RRD: per archive, row time → values. */
export function berthArchives(rrd: Rrd): Archive[] {
  const nds = rrd.ds.length;
  return rrd.rras.map((rra: Rra) => {
    const span = rrd.step * rra.pdpPerRow;
    const newest = Math.floor(Math.trunc(rrd.lastUpdated) / span) * span;
    const rows = new Map<number, number[]>();
    for (let age = 0; age < rra.rows; age++) {
      const vs: number[] = [];
      for (let i = 0; i < nds; i++) vs.push(rowValue(rra, nds, age, i));
      rows.set(newest - age * span, vs);
    }
    return { cf: rra.cf, pdpPerRow: rra.pdpPerRow, rows };
  });
}

const close = (a: number, b: number) =>
  (Number.isNaN(a) && Number.isNaN(b)) ||
  a === b ||
  Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));

/**
 * Differences between two views (same archives, every row time of `theirs`): human-readable, at
 * most `limit`. Also returns how many known (non-NaN) values were compared, so a test can insist
 * the comparison was not vacuous.
 */
export function compareArchives(ours: Archive[], theirs: Archive[], names: string[], limit = 10) {
  const diffs: string[] = [];
  let known = 0;
  if (ours.length !== theirs.length) diffs.push(`${ours.length} archives vs ${theirs.length}`);
  for (let k = 0; k < Math.min(ours.length, theirs.length); k++) {
    const a = ours[k];
    const b = theirs[k];
    if (a.cf !== b.cf || a.pdpPerRow !== b.pdpPerRow)
      diffs.push(`archive ${k}: ${a.cf}/${a.pdpPerRow} vs ${b.cf}/${b.pdpPerRow}`);
    for (const [time, theirRow] of b.rows) {
      const ourRow = a.rows.get(time);
      if (!ourRow) {
        diffs.push(`archive ${k} (${b.cf}/${b.pdpPerRow}): no row at ${time}`);
        continue;
      }
      theirRow.forEach((v, i) => {
        if (!Number.isNaN(v)) known++;
        if (!close(ourRow[i], v) && diffs.length < limit) {
          diffs.push(
            `archive ${k} (${b.cf}/${b.pdpPerRow}) t=${time} ${names[i]}: berth ${ourRow[i]} rrdtool ${v}`,
          );
        }
      });
    }
  }
  return { diffs, known };
}
