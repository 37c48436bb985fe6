// The host's own data sources (owner `host`): CPU per core and average, load, memory, PIF
// throughput. `hostValues` is pure over the parsed kernel files; `PifClassifier` is the thin
// part that asks `ip` which interfaces are physical NICs, only when the set of interfaces changes.
import type { SampledValue } from '../../shared/rrd/types.js';
import { links } from '../network/ip.js';
import { isNic } from '../network/pif.js';
import type { LinkCounters, ProcStat } from './sample-parse.js';
import { specOf } from './sample-spec.js';

export interface HostFigures {
  stat: ProcStat;
  /** /proc/meminfo in KiB. */
  meminfo: Record<string, number>;
  loadavg?: number;
  /** Counters of the physical interfaces (by device) and of no others. */
  pifs: Map<string, LinkCounters>;
  /** Bonds among `pifs` (left out of pif_aggr: their members are counted already). */
  bonds: ReadonlySet<string>;
  /** vCPU threads of the VMs found running or runnable (state R) at this reading. */
  runningVcpus: number;
  /** VMs running (not paused) on this host. */
  runningVms: number;
}

/**
 * The host's values (pure). cpuN/cpu_avg carry idle seconds (DERIVE → idle fraction, which the
 * `inverse` transform turns into busy); hostload = runnable threads per CPU (the reader itself
 * left out); running_domains counts the host itself as xapi counts dom0.
 */
export function hostValues(f: HostFigures): SampledValue[] {
  const out: SampledValue[] = [];
  const put = (name: string, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) out.push({ spec: specOf('host', name), value });
  };
  const idle = f.stat.idleSeconds;
  idle.forEach((s, i) => {
    put(`cpu${i}`, s);
  });
  if (idle.length && idle.every(Number.isFinite))
    put('cpu_avg', idle.reduce((a, b) => a + b, 0) / idle.length);
  put('loadavg', f.loadavg);
  if (f.stat.procsRunning !== undefined && idle.length)
    put('hostload', Math.max(0, f.stat.procsRunning - 1) / idle.length);
  put('running_vcpus', f.runningVcpus);
  put('running_domains', f.runningVms + 1);
  put('memory_total_kib', f.meminfo.MemTotal);
  put('memory_free_kib', f.meminfo.MemAvailable ?? f.meminfo.MemFree);
  let rx = 0;
  let tx = 0;
  for (const [dev, c] of f.pifs) {
    put(`pif_${dev}_rx`, c.rxBytes);
    put(`pif_${dev}_tx`, c.txBytes);
    put(`pif_${dev}_rx_errors`, c.rxErrors);
    put(`pif_${dev}_tx_errors`, c.txErrors);
    if (!f.bonds.has(dev)) {
      rx += c.rxBytes;
      tx += c.txBytes;
    }
  }
  put('pif_aggr_rx', rx);
  put('pif_aggr_tx', tx);
  return out;
}

export interface PifSet {
  pifs: Set<string>;
  bonds: Set<string>;
}

/**
 * Which interfaces are PIFs: NICs as PIF.scan finds them (network/pif.ts isNic: a parent bus,
 * or one of the admitted virtual kinds) and bonds; VLAN devices are not (xapi leaves them out).
 * Asks `ip -j -d link` once per change of the interface set, never per cycle.
 */
export class PifClassifier {
  private key = '';
  private current: PifSet = { pifs: new Set(), bonds: new Set() };
  private pending?: Promise<void>;

  constructor(
    private readonly nicKinds: readonly string[] = [],
    private readonly list = () => links(),
  ) {}

  /** The classification for these interface names (the previous one while a new one is asked). */
  async classify(names: Iterable<string>): Promise<PifSet> {
    const key = [...names].sort().join(' ');
    if (key !== this.key) {
      this.key = key;
      this.pending = this.refresh();
    }
    await this.pending;
    return this.current;
  }

  private async refresh(): Promise<void> {
    try {
      const all = await this.list();
      const pifs = new Set<string>();
      const bonds = new Set<string>();
      for (const l of all) {
        const kind = l.linkinfo?.info_kind;
        if (kind === 'bond') {
          pifs.add(l.ifname);
          bonds.add(l.ifname);
        } else if (isNic(l, this.nicKinds)) pifs.add(l.ifname);
      }
      this.current = { pifs, bonds };
    } catch {
      this.key = ''; // try again next cycle
    }
  }
}
