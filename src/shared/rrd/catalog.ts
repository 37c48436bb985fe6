// The data sources Berth samples (xe-http-xva-rrd.md §7), as xcp-rrdd and its plugins declare
// them: name, description, units, type, bounds, standard flag and `inverse`. Descriptions, units
// and bounds are xapi's own (rrdp-cpu, rrdp-netdev, rrdp-iostat, rrdp-squeezed), so
// `xe *-data-source-list`, get_data_sources and Prometheus HELP lines read as on XenServer.
// Names with a variable part (cpu<N>, pif_<dev>_rx, vbd_<dev>_read, read_<sr8>…) are resolved
// by pattern. Pure.
import type { RrdOwner } from '../host/stats.js';
import type { DataSourceSpec, DsType } from './types.js';

const INF = Number.POSITIVE_INFINITY;

/** xapi's Ds.ds_make defaults: min −∞, max +∞, no transform. */
function ds(
  name: string,
  type: DsType,
  units: string,
  description: string,
  standard: boolean,
  bounds: { min?: number; max?: number; inverse?: boolean } = {},
): DataSourceSpec {
  return {
    name,
    type,
    min: bounds.min ?? -INF,
    max: bounds.max ?? INF,
    ...(bounds.inverse ? { transform: 'inverse' as const } : {}),
    description,
    units,
    standard,
  };
}

const FRACTION = { min: 0, max: 1 };
const POSITIVE = { min: 0 };

/** Fixed-name host sources (rrdp-cpu, rrdp-squeezed). */
function hostFixed(name: string): DataSourceSpec | undefined {
  switch (name) {
    case 'cpu_avg':
      return ds(name, 'DERIVE', '(fraction)', 'Average physical cpu usage', true, {
        ...FRACTION,
        inverse: true,
      });
    case 'loadavg':
      return ds(name, 'GAUGE', '(fraction)', 'Domain0 loadavg', true);
    case 'hostload':
      return ds(
        name,
        'GAUGE',
        '(fraction)',
        'Host load per physical cpu, where load refers to the number of vCPU(s) in running or runnable status.',
        true,
        POSITIVE,
      );
    case 'running_vcpus':
      return ds(name, 'GAUGE', 'count', 'The total number of running vCPUs per host', true, POSITIVE);
    case 'running_domains':
      return ds(name, 'GAUGE', 'count', 'The total number of running domains per host', true, POSITIVE);
    case 'memory_total_kib':
      return ds(name, 'GAUGE', 'KiB', 'Total amount of memory in the host', true, POSITIVE);
    case 'memory_free_kib':
      return ds(name, 'GAUGE', 'KiB', 'Total amount of free memory', true, POSITIVE);
    case 'pif_aggr_rx':
      return ds(
        name,
        'DERIVE',
        'B/s',
        'Bytes per second received on all physical interfaces',
        true,
        POSITIVE,
      );
    case 'pif_aggr_tx':
      return ds(name, 'DERIVE', 'B/s', 'Bytes per second sent on all physical interfaces', true, POSITIVE);
    default:
      return undefined;
  }
}

/** A physical interface's sources (rrdp-netdev): pif_<dev>_{rx,tx,rx_errors,tx_errors}. */
function pifSpec(name: string, dev: string, what: string): DataSourceSpec | undefined {
  switch (what) {
    case 'rx':
      return ds(
        name,
        'DERIVE',
        'B/s',
        `Bytes per second received on physical interface ${dev}`,
        true,
        POSITIVE,
      );
    case 'tx':
      return ds(name, 'DERIVE', 'B/s', `Bytes per second sent on physical interface ${dev}`, true, POSITIVE);
    case 'rx_errors':
      return ds(
        name,
        'DERIVE',
        'err/s',
        `Receive errors per second on physical interface ${dev}`,
        false,
        POSITIVE,
      );
    case 'tx_errors':
      return ds(
        name,
        'DERIVE',
        'err/s',
        `Transmit errors per second on physical interface ${dev}`,
        false,
        POSITIVE,
      );
    default:
      return undefined;
  }
}

/**
 * rrdp-iostat's per-device block I/O sources (Stats_value and Iostats_value), `key` without the
 * owner's decoration; `device` is the word xapi puts in descriptions: "SR" on the host RRD,
 * "VDI" on a VM's.
 */
function ioSpec(name: string, key: string, device: string): DataSourceSpec | undefined {
  switch (key) {
    case 'read':
      return ds(name, 'DERIVE', 'B/s', `Reads from device ${device}, in B/s`, true, POSITIVE);
    case 'write':
      return ds(name, 'DERIVE', 'B/s', `Writes from device ${device}, in B/s`, true, POSITIVE);
    case 'read_latency':
      return ds(name, 'GAUGE', 'μs', `Read latency from device ${device}, in microseconds`, true, POSITIVE);
    case 'write_latency':
      return ds(name, 'GAUGE', 'μs', `Write latency from device ${device}, in microseconds`, true, POSITIVE);
    case 'io_throughput_read':
      return ds(name, 'ABSOLUTE', 'MiB/s', `Data read from the ${device}, in MiB/s`, true, POSITIVE);
    case 'io_throughput_write':
      return ds(name, 'ABSOLUTE', 'MiB/s', `Data written to the ${device}, in MiB/s`, true, POSITIVE);
    case 'io_throughput_total':
      return ds(name, 'ABSOLUTE', 'MiB/s', `All ${device} I/O, in MiB/s`, true, POSITIVE);
    case 'iops_read':
      return ds(name, 'ABSOLUTE', 'requests/s', 'Read requests per second', true, POSITIVE);
    case 'iops_write':
      return ds(name, 'ABSOLUTE', 'requests/s', 'Write requests per second', true, POSITIVE);
    case 'iops_total':
      return ds(name, 'ABSOLUTE', 'requests/s', 'I/O Requests per second', true, POSITIVE);
    case 'iowait':
      return ds(name, 'ABSOLUTE', 's/s', 'Total I/O wait time (all requests) per second', true, POSITIVE);
    case 'latency':
      return ds(name, 'GAUGE', 'μs', 'Average I/O latency', true, POSITIVE);
    case 'avgqu_sz':
      return ds(name, 'GAUGE', 'requests', 'Average I/O queue size', true, POSITIVE);
    default:
      return undefined;
  }
}

/** The block I/O keys Berth samples (rrdp-iostat's minus `inflight`: QEMU does not count it). */
export const IO_KEYS = [
  'read',
  'write',
  'read_latency',
  'write_latency',
  'io_throughput_read',
  'io_throughput_write',
  'io_throughput_total',
  'iops_read',
  'iops_write',
  'iops_total',
  'iowait',
  'latency',
  'avgqu_sz',
] as const;
export type IoKey = (typeof IO_KEYS)[number];

// A device or interface name inside a data-source name: no underscore, so the suffix after it
// is never ambiguous (pif_eth0_rx_errors, vbd_xvda_read_latency).
const DEV = '([A-Za-z0-9.:-]+)';
const CPU_RE = /^cpu(0|[1-9]\d*)$/;
const PIF_RE = new RegExp(`^pif_${DEV}_(rx|tx|rx_errors|tx_errors)$`);
const SR_IO_RE = /^([a-z_]+)_([0-9a-f]{8})$/;
const VIF_RE = /^vif_(0|[1-9]\d*)_(rx|tx|rx_errors|tx_errors)$/;
const VBD_RE = new RegExp(`^vbd_${DEV}_([a-z_]+)$`);

function hostSpec(name: string): DataSourceSpec | undefined {
  const fixed = hostFixed(name);
  if (fixed) return fixed;
  let m = CPU_RE.exec(name);
  if (m)
    return ds(name, 'DERIVE', '(fraction)', `Physical cpu usage for cpu ${m[1]}`, true, {
      ...FRACTION,
      inverse: true,
    });
  m = PIF_RE.exec(name);
  if (m && m[1] !== 'aggr') return pifSpec(name, m[1], m[2]);
  m = SR_IO_RE.exec(name);
  if (m && (IO_KEYS as readonly string[]).includes(m[1])) return ioSpec(name, m[1], 'SR');
  return undefined;
}

function vmSpec(name: string): DataSourceSpec | undefined {
  switch (name) {
    case 'cpu_usage':
      return ds(name, 'DERIVE', '(fraction)', 'Domain CPU usage', true, FRACTION);
    case 'memory':
      return ds(name, 'GAUGE', 'B', 'Memory currently allocated to VM', true, POSITIVE);
    case 'memory_target':
      return ds(name, 'GAUGE', 'B', 'Target of VM balloon driver', true, POSITIVE);
  }
  let m = CPU_RE.exec(name);
  if (m) return ds(name, 'DERIVE', '(fraction)', `CPU${m[1]} usage`, true, FRACTION);
  m = VIF_RE.exec(name);
  if (m) {
    const n = m[1];
    switch (m[2]) {
      case 'rx':
        return ds(
          name,
          'DERIVE',
          'B/s',
          `Bytes per second received on virtual interface number '${n}'`,
          true,
          POSITIVE,
        );
      case 'tx':
        return ds(
          name,
          'DERIVE',
          'B/s',
          `Bytes per second transmitted on virtual interface number '${n}'`,
          true,
          POSITIVE,
        );
      case 'rx_errors':
        return ds(
          name,
          'DERIVE',
          'err/s',
          `Receive errors per second on virtual interface number '${n}'`,
          false,
          POSITIVE,
        );
      default:
        return ds(
          name,
          'DERIVE',
          'err/s',
          `Transmit errors per second on virtual interface number '${n}'`,
          false,
          POSITIVE,
        );
    }
  }
  m = VBD_RE.exec(name);
  if (m) return ioSpec(name, m[2], 'VDI');
  return undefined;
}

/**
 * SR-owned sources (sr-level-rrds.md: an SR plugin reports them; xapi copies
 * `physical_utilisation` into SR.physical_utilisation). Berth's SR drivers give both figures.
 */
function srSpec(name: string): DataSourceSpec | undefined {
  switch (name) {
    case 'size':
      return ds(name, 'GAUGE', 'B', 'Size of the SR', true, POSITIVE);
    case 'physical_utilisation':
      return ds(name, 'GAUGE', 'B', 'Physical space used on the SR', true, POSITIVE);
    default:
      return undefined;
  }
}

/** The spec of data source `name` of an RRD of `owner`; undefined if Berth never samples it. */
export function dataSourceSpec(owner: RrdOwner, name: string): DataSourceSpec | undefined {
  if (typeof name !== 'string') return undefined;
  switch (owner) {
    case 'host':
      return hostSpec(name);
    case 'vm':
      return vmSpec(name);
    case 'sr':
      return srSpec(name);
    default:
      return undefined;
  }
}

/**
 * Like dataSourceSpec but never undefined (for the samplers, whose names are always in the
 * catalog: a missing one is a programming error).
 */
export function mustSpec(owner: RrdOwner, name: string): DataSourceSpec {
  const s = dataSourceSpec(owner, name);
  if (!s) throw new Error(`no data source ${owner}:${name} in the catalog`);
  return s;
}

/** What a data source is, in words and units, for HELP lines and data_source records. */
export interface DataSourceDescription {
  description: string;
  units: string;
  standard: boolean;
}

/**
 * The description of a data source, or xapi's placeholder for one an RRD holds but nothing
 * samples any more (an archived-but-not-live source: §6.5).
 */
export function describe(owner: RrdOwner, name: string): DataSourceDescription {
  const s = dataSourceSpec(owner, name);
  return s
    ? { description: s.description, units: s.units, standard: s.standard }
    : { description: 'description not available', units: 'unknown', standard: false };
}

/** A source xapi records by default that Berth does not produce, and why. */
export interface NotProduced {
  owner: RrdOwner;
  /** The name or its pattern as §7 writes it. */
  name: string;
  why: string;
}

/** xapi's standard data sources (§7) Berth does not produce (docs/statistics.md lists them). */
export const XAPI_STANDARD_NOT_PRODUCED: readonly NotProduced[] = [
  {
    owner: 'host',
    name: 'memory_reclaimed, memory_reclaimed_max',
    why: 'squeezed (dynamic memory balancing across VMs) has no Berth counterpart',
  },
  {
    owner: 'host',
    name: 'cpu<N>-C<k>, cpu<N>-P<k>, CPU<N>-avg-freq',
    why: "Xen's power-management counters (xenpm); Linux cpuidle/cpufreq figures are not sampled",
  },
  {
    owner: 'host',
    name: 'inflight_<sr8>',
    why: 'QEMU query-blockstats counts completed requests only, not requests in flight',
  },
  {
    owner: 'vm',
    name: 'vbd_<dev>_inflight',
    why: 'QEMU query-blockstats counts completed requests only, not requests in flight',
  },
  { owner: 'host', name: 'Tapdisks_in_low_memory_mode', why: 'no tapdisk: QEMU does all disk I/O' },
  { owner: 'host', name: 'sr_<uuid>_cache_size/_hits/_misses', why: 'no IntelliCache' },
  { owner: 'host', name: 'DCMI-power-reading', why: 'no IPMI DCMI sampling' },
  {
    owner: 'host',
    name: 'xapi_memory_usage_kib, xapi_free_memory_kib, xapi_live_memory_kib, xapi_allocation_kib, xapi_open_fds',
    why: "xapi's own process figures: the Berth manager is a separate process from the agent that samples",
  },
  {
    owner: 'host',
    name: 'pool_session_count, pool_task_count, pool_session_creation_rate',
    why: "the pool master's database figures: sampled by xapi itself, not xcp-rrdd's plugins",
  },
  { owner: 'host', name: 'pool_vgpu_migration_rate', why: 'no vGPU' },
  {
    owner: 'vm',
    name: 'memory_internal_free',
    why: 'needs a guest agent reporting free memory (QEMU guest agent support not built)',
  },
];
