// Block I/O figures from QEMU's `query-blockstats` (pure): the counters of each disk, and
// rrdp-iostat's data sources (read, write, latencies, throughput, IOPS, iowait, average queue
// size) from a counter total and the change since the previous reading.
import type { IoKey } from '../../shared/rrd/catalog.js';

/** Cumulative counters of one disk (or an SR's sum), as QEMU counts them since it started. */
export interface IoCounters {
  rdBytes: number;
  wrBytes: number;
  rdOps: number;
  wrOps: number;
  rdTimeNs: number;
  wrTimeNs: number;
}

export const ZERO_IO: IoCounters = { rdBytes: 0, wrBytes: 0, rdOps: 0, wrOps: 0, rdTimeNs: 0, wrTimeNs: 0 };

const FIELDS: [keyof IoCounters, string][] = [
  ['rdBytes', 'rd_bytes'],
  ['wrBytes', 'wr_bytes'],
  ['rdOps', 'rd_operations'],
  ['wrOps', 'wr_operations'],
  ['rdTimeNs', 'rd_total_time_ns'],
  ['wrTimeNs', 'wr_total_time_ns'],
];

/**
 * The guest device a blockstats entry belongs to: QEMU's device ids are `vbd-<device>`
 * (qemu/command-line.ts), seen in `qdev` (/machine/peripheral/vbd-xvda/virtio-backend, or plain
 * `vbd-hdc` for an IDE CD drive) or else in the drive id `drive-vbd-<device>`.
 */
export function blockDevice(entry: { device?: unknown; qdev?: unknown }): string | undefined {
  const qdev =
    typeof entry.qdev === 'string' ? /^(?:\/machine\/peripheral\/)?vbd-([^/]+)/.exec(entry.qdev) : null;
  if (qdev) return qdev[1];
  const drive = typeof entry.device === 'string' ? /^drive-vbd-(.+)$/.exec(entry.device) : null;
  return drive?.[1];
}

/** `query-blockstats`'s answer → counters by guest device (entries of no VBD are skipped). */
export function parseBlockstats(ret: unknown): Map<string, IoCounters> {
  const out = new Map<string, IoCounters>();
  if (!Array.isArray(ret)) return out;
  for (const e of ret) {
    if (!e || typeof e !== 'object') continue;
    const dev = blockDevice(e as { device?: unknown; qdev?: unknown });
    const stats = (e as { stats?: Record<string, unknown> }).stats;
    if (!dev || !stats || typeof stats !== 'object') continue;
    const c = { ...ZERO_IO };
    let ok = true;
    for (const [k, q] of FIELDS) {
      const v = stats[q];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) c[k] = v;
      else ok = false;
    }
    if (ok) out.set(dev, c);
  }
  return out;
}

/** cur − prev, or undefined when a counter went back (QEMU restarted: no valid change). */
export function diffIo(prev: IoCounters, cur: IoCounters): IoCounters | undefined {
  const d = { ...ZERO_IO };
  for (const [k] of FIELDS) {
    d[k] = cur[k] - prev[k];
    if (d[k] < 0) return undefined;
  }
  return d;
}

export function addIo(a: IoCounters, b: IoCounters): IoCounters {
  const s = { ...ZERO_IO };
  for (const [k] of FIELDS) s[k] = a[k] + b[k];
  return s;
}

const MIB = 1024 * 1024;

/**
 * rrdp-iostat's values. `total`: the cumulative counters (read/write are DERIVE of bytes);
 * `delta`: the change over the last `dt` seconds, undefined at the first reading (then only the
 * DERIVE counters are known). ABSOLUTE values are amounts over the interval (the RRD divides by
 * the time); GAUGEs are computed here: latencies in μs per completed request (0 when none, as
 * xapi), avgqu_sz = request-seconds waited per second (Little's law, xsiostat's definition).
 */
export function ioValues(total: IoCounters, delta: IoCounters | undefined, dt: number): Map<IoKey, number> {
  const v = new Map<IoKey, number>([
    ['read', total.rdBytes],
    ['write', total.wrBytes],
  ]);
  if (!delta) return v;
  const usPerOp = (ns: number, ops: number) => (ops > 0 ? ns / ops / 1000 : 0);
  const waitS = (delta.rdTimeNs + delta.wrTimeNs) / 1e9;
  v.set('read_latency', usPerOp(delta.rdTimeNs, delta.rdOps));
  v.set('write_latency', usPerOp(delta.wrTimeNs, delta.wrOps));
  v.set('latency', usPerOp(delta.rdTimeNs + delta.wrTimeNs, delta.rdOps + delta.wrOps));
  v.set('io_throughput_read', delta.rdBytes / MIB);
  v.set('io_throughput_write', delta.wrBytes / MIB);
  v.set('io_throughput_total', (delta.rdBytes + delta.wrBytes) / MIB);
  v.set('iops_read', delta.rdOps);
  v.set('iops_write', delta.wrOps);
  v.set('iops_total', delta.rdOps + delta.wrOps);
  v.set('iowait', waitS);
  if (dt > 0) v.set('avgqu_sz', waitS / dt);
  return v;
}
