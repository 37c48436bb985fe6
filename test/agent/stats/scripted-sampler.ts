// A deterministic Sampler for the store, archive and RPC tests: its clock moves 5 s per reading
// (on the 5 s grid) and every value is a function of the reading's index, so tests know what the
// RRDs must hold. Real readings are the real samplers' tests' business (sample*.test.ts).
import type { RrdOwner } from '../../../src/shared/host/stats.js';
import type { DataSourceSpec, SampledValue } from '../../../src/shared/rrd/types.js';
import type { HostSample, Sampler } from '../../../src/agent/stats/sample.js';

export const T0 = 1_700_000_000;

/** The VM archive-child.ts reports. */
export const CHILD_VM = '41111111-2222-4333-8444-555555555555';

const gauge = (name: string, standard: boolean, units = '(fraction)'): DataSourceSpec => ({
  name,
  type: 'GAUGE',
  min: 0,
  max: Number.POSITIVE_INFINITY,
  description: `test source ${name}`,
  units,
  standard,
});

/** The sources each owner reports: two standard, one optional. */
export const SPECS: Record<RrdOwner, DataSourceSpec[]> = {
  host: [gauge('cpu0', true), gauge('memory_total_kib', true, 'KiB'), gauge('memory_reclaimed', false, 'B')],
  vm: [gauge('cpu0', true), gauge('memory', true, 'B'), gauge('memory_internal_free', false, 'KiB')],
  sr: [
    gauge('physical_utilisation', true, 'B'),
    gauge('size', true, 'B'),
    gauge('io_throughput_total', false, 'MiB/s'),
  ],
};

/** The value a source reports at reading `i` (distinct per name and owner). */
export function valueAt(owner: RrdOwner, name: string, i: number, uuid = ''): number {
  let h = 0;
  for (const c of `${owner}:${uuid}:${name}`) h = (h * 31 + c.charCodeAt(0)) % 1000;
  return h + i;
}

export class ScriptedSampler implements Sampler {
  /** Index of the next reading. */
  i = 0;
  time = T0;
  vms = new Set<string>();
  srs = new Set<string>();
  /** Names left out of the next readings (a source that vanished). */
  hidden = new Set<string>();
  /** Milliseconds each reading takes (the loop's overlap tests). */
  delayMs = 0;
  fail = false;

  constructor(opts: { vms?: string[]; srs?: string[]; time?: number } = {}) {
    for (const v of opts.vms ?? []) this.vms.add(v);
    for (const s of opts.srs ?? []) this.srs.add(s);
    if (opts.time !== undefined) this.time = opts.time;
  }

  private values(owner: RrdOwner, uuid: string): SampledValue[] {
    return SPECS[owner]
      .filter((spec) => !this.hidden.has(spec.name))
      .map((spec) => ({ spec, value: valueAt(owner, spec.name, this.i, uuid) }));
  }

  /** The reading the next `sample()` returns, without advancing. */
  peek(): HostSample {
    return {
      time: this.time,
      host: this.values('host', ''),
      vms: new Map([...this.vms].map((u) => [u, this.values('vm', u)])),
      srs: new Map([...this.srs].map((u) => [u, this.values('sr', u)])),
    };
  }

  async sample(): Promise<HostSample> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.fail) throw new Error('scripted sampler failure');
    const s = this.peek();
    this.i++;
    this.time += 5;
    return s;
  }
}
