// Statistics of resource classes (IML api/statistics.py up to 5.1, removed from IML HEAD; reference
// §9): assigning `resource.temperature = 20` records a timestamped sample, drained at each commit.
import type { ResourceClassInfo } from '../session.js';
import { pyStr } from './py-format.js';

/** `units: UNITS_BYTES` marks a byte quantity (shown with byte units). */
export const UNITS_BYTES = 1;

export interface StatisticOptions {
  /** Seconds between samples (default 10); must convert to an integer. */
  samplePeriod?: number | string;
  units?: string | typeof UNITS_BYTES | null;
  label?: string;
}

type StatisticInfo = ResourceClassInfo['statistics'][string];

export abstract class Statistic<V = number> {
  declare readonly valueType: V;
  abstract readonly type: StatisticInfo['type'];
  readonly samplePeriod: number;
  readonly units: string | typeof UNITS_BYTES | null;
  readonly label?: string;
  constructor(opts: StatisticOptions = {}) {
    const period = opts.samplePeriod ?? 10;
    const n = typeof period === 'number' ? Math.trunc(period) : Number(String(period).trim());
    if (!Number.isSafeInteger(n) || String(period).trim() === '') {
      throw new Error(`sample period '${pyStr(period)}' is not an integer!`);
    }
    this.samplePeriod = n;
    this.units = opts.units ?? null;
    this.label = opts.label;
  }
  /** Checks and converts an assigned value (what is recorded as the sample). */
  abstract sampleValue(value: unknown): V;
  info(): StatisticInfo {
    const i: StatisticInfo = { type: this.type };
    if (this.units !== null) i.units = this.units === UNITS_BYTES ? 'bytes' : this.units;
    return i;
  }
}

function toFloat(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : Number.NaN;
  if (Number.isNaN(n) || (typeof value === 'string' && value.trim() === '')) {
    throw new Error(`could not convert string to float: ${pyStr(value)}`);
  }
  return n;
}

class GaugeImpl extends Statistic<number> {
  readonly type = 'Gauge' as const;
  sampleValue(value: unknown): number {
    return toFloat(value);
  }
}

class CounterImpl extends Statistic<number> {
  readonly type = 'Counter' as const;
  sampleValue(value: unknown): number {
    return toFloat(value);
  }
}

/** A bin: `[lo, hi]` a range, `[lo]` "this or higher". */
export type HistogramBin = readonly [number, number] | readonly [number];

export interface HistogramOptions extends StatisticOptions {
  bins: readonly HistogramBin[];
}

class BytesHistogramImpl extends Statistic<number[]> {
  readonly type = 'BytesHistogram' as const;
  readonly bins: readonly HistogramBin[];
  constructor(opts: HistogramOptions) {
    super(opts);
    if (
      !Array.isArray(opts?.bins) ||
      opts.bins.some((b) => !Array.isArray(b) || b.length < 1 || b.length > 2)
    ) {
      throw new Error('BytesHistogram bins must be a list of 1- or 2-tuples');
    }
    this.bins = opts.bins;
  }
  sampleValue(value: unknown): number[] {
    const got = Array.isArray(value) ? value.length : 0;
    if (!Array.isArray(value) || got !== this.bins.length) {
      throw new Error(`Invalid histogram value, got ${got} bins, expected ${this.bins.length}`);
    }
    return value.map(toFloat);
  }
  override info(): StatisticInfo {
    return { ...super.info(), bins: this.bins.map((b) => [...b]) };
  }
}

/** A time series that goes up and down. */
export function Gauge(opts?: StatisticOptions): Statistic<number> {
  return new GaugeImpl(opts);
}
/** A monotonic time series, shown as a rate (negative rates clamped to 0). */
export function Counter(opts?: StatisticOptions): Statistic<number> {
  return new CounterImpl(opts);
}
/** A fixed-length array of counts, one per bin. */
export function BytesHistogram(opts: HistogramOptions): Statistic<number[]> {
  return new BytesHistogramImpl(opts);
}

/** `charts: [{ title, series: [statistic names] }]`; default one chart per statistic. */
export interface Chart<S extends string = string> {
  title: string;
  series: S[];
}
