// A second pool member's records, made directly in a test manager's database (pool.join builds
// them for real; tests of what runs on which host only need the records and an agent client).
import type { Database } from '../../src/manager/db/database.js';
import { nowXapi } from '../../src/manager/time.js';

export interface TestHostOptions {
  memoryTotal?: number;
  address?: string;
  /** Copied from this host's cpu_info (default: the manager's own host), so CPU checks agree. */
  cpuInfoFrom?: string;
}

/** Creates a live, enabled host and its host_metrics; returns the host ref. */
export function addTestHost(db: Database, name: string, opts: TestHostOptions = {}): string {
  const like = opts.cpuInfoFrom ? db.get('host', opts.cpuInfoFrom) : [...db.all('host').values()][0];
  const metrics = db.create('host_metrics', {
    memory_total: opts.memoryTotal ?? 8 * 1024 ** 3,
    memory_free: opts.memoryTotal ?? 8 * 1024 ** 3,
    live: true,
    last_updated: nowXapi(),
    other_config: {},
  });
  return db.create('host', {
    name_label: name,
    hostname: name,
    address: opts.address ?? '127.0.0.2',
    enabled: true,
    metrics,
    cpu_info: { ...((like?.cpu_info as Record<string, string>) ?? {}) },
    capabilities: ['hvm-3.0-x86_64'],
    other_config: {},
  });
}
