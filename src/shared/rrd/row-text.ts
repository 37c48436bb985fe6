// Formatted rows of an archive for `/rrd_updates`, kept while the archive's data array lives: a
// row is formatted once, however often clients poll (XenCenter and Xen Orchestra ask every 5 s).
// rrd.ts formats the rows it writes to the two finest archives at once (what clients poll: a
// few microseconds per row), so a poll only joins strings; the dump reader keeps those archives'
// rows from the dump's own text (keepRowText); rows of the coarser archives, or whose dump text
// is not formatFloat's, are formatted at their first poll. Memory: about 1.2 KB per row of 25 data
// sources (XML and JSON), 30 MB for 100 such VMs' 5 s and 1 min archives.

import { formatFloat } from './format.js';
import type { Rra } from './rrd.js';

interface RowText {
  /** Per ring row: `pushes` − age when the row was formatted (NaN: never; −1 is a real serial). */
  stamp: Float64Array;
  /** Per ring row: `<v>a</v><v>b</v>…` and `"a","b",…`. */
  xml: string[];
  json: string[];
}

const rowTexts = new WeakMap<Float64Array, RowText>();

/** Archives whose new rows are formatted as they are written (PDPs per row up to this). */
export const EAGER_PDP_PER_ROW = 12;

function cacheOf(rra: Rra): RowText {
  let cache = rowTexts.get(rra.data);
  if (!cache) {
    cache = {
      stamp: new Float64Array(rra.rows).fill(Number.NaN),
      xml: new Array(rra.rows),
      json: new Array(rra.rows),
    };
    rowTexts.set(rra.data, cache);
  }
  return cache;
}

/** Ring row `age` rows back of an archive, formatted (formatting it now if not yet). */
export function rowText(rra: Rra, nds: number, age: number, json: boolean): string {
  const cache = cacheOf(rra);
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

/**
 * Keeps ring row `r`'s text from values already in their formatFloat form (`vs`, one per data
 * source: the dump reader's own substrings), so a poll right after a reload only joins strings.
 */
export function keepRowText(rra: Rra, r: number, vs: readonly string[]): void {
  const cache = cacheOf(rra);
  let age = rra.cur - r;
  if (age < 0) age += rra.rows;
  cache.xml[r] = vs.length === 0 ? '' : `<v>${vs.join('</v><v>')}</v>`;
  cache.json[r] = vs.length === 0 ? '' : `"${vs.join('","')}"`;
  cache.stamp[r] = rra.pushes - age;
}

/** Formats the `count` newest rows of an archive just written (see EAGER_PDP_PER_ROW). */
export function formatNewRows(rra: Rra, nds: number, count: number): void {
  if (rra.pdpPerRow > EAGER_PDP_PER_ROW || nds === 0) return;
  for (let age = Math.min(count, rra.rows) - 1; age >= 0; age--) rowText(rra, nds, age, false);
}
