// The vocabulary of Berth's round-robin databases, shared by the engine (rrd.ts), the data-source
// catalog (catalog.ts), the agent's samplers and the manager (reference: xe-http-xva-rrd.md §6–7).

/** xapi's data-source types (rrdtool semantics: GAUGE as is, DERIVE Δ/Δt, ABSOLUTE value/Δt). */
export type DsType = 'GAUGE' | 'DERIVE' | 'ABSOLUTE';

/** What the engine needs of a data source. */
export interface DsDef {
  name: string;
  type: DsType;
  /** Values outside [min, max] are unknown (NaN); ±Infinity: unbounded. */
  min: number;
  max: number;
  /** xapi's PDP transform: `inverse` records 1 − x (host cpuN from idle time). */
  transform?: 'inverse';
}

/** A data source as the catalog describes it (§7): what get_data_sources shows. */
export interface DataSourceSpec extends DsDef {
  description: string;
  units: string;
  /** Recorded by default (§7's ✓); the others only after record_data_source. */
  standard: boolean;
}

/** One reading taken by a sampler: a counter for DERIVE, the amount since the last reading for ABSOLUTE, the value for GAUGE. */
export interface SampledValue {
  spec: DataSourceSpec;
  value: number;
}

/**
 * What a data source name may be, on both sides of the contract (the manager refuses others
 * before asking an agent; the agent refuses them at its RPC boundary): the catalog's names and
 * plugin-style ones (letters, digits, `_ . : + -`), at most 255 characters.
 */
export function isDataSourceName(v: unknown): v is string {
  return typeof v === 'string' && /^[A-Za-z0-9_.:+-]{1,255}$/.test(v);
}
