// What one sampling cycle of a host yields (the samplers in this folder fill it; the store feeds
// it to the RRDs every 5 s).
import type { SampledValue } from '../../shared/rrd/types.js';

export interface HostSample {
  /** Epoch seconds (fractional) when the readings were taken. */
  time: number;
  /** The host's own data sources (owner `host`). */
  host: SampledValue[];
  /** By VM uuid: every VM running on this host. */
  vms: Map<string, SampledValue[]>;
  /** By SR uuid: every SR attached on this host (owner `sr`). */
  srs: Map<string, SampledValue[]>;
}

export interface Sampler {
  /** Takes one reading of everything; never throws for one failing source (it is left out). */
  sample(): Promise<HostSample>;
}
