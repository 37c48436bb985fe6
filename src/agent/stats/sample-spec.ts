// The catalog's spec of a sampled name, memoised: a cycle of 100 VMs names thousands of data
// sources, each resolved once (the catalog's patterns are regular expressions).
import type { RrdOwner } from '../../shared/host/stats.js';
import { mustSpec } from '../../shared/rrd/catalog.js';
import type { DataSourceSpec } from '../../shared/rrd/types.js';

const cache = new Map<string, DataSourceSpec>();

export function specOf(owner: RrdOwner, name: string): DataSourceSpec {
  const key = `${owner}:${name}`;
  let s = cache.get(key);
  if (!s) {
    s = mustSpec(owner, name);
    if (cache.size > 100_000) cache.clear(); // names of long-gone devices
    cache.set(key, s);
  }
  return s;
}
