// The SRs attached on this host, as the storage procedures saw them (sr_attach, and sr_scan /
// sr_stats, which the manager only calls on attached SRs, so an agent restarted under a running
// manager learns them again); sr_detach and sr_destroy forget them. The statistics sampler reads
// it for the SR RRDs and the per-SR I/O sums.
import { dirname } from 'node:path';
import { volumePath } from '../../shared/host/volume-path.js';
import type { DriverContext, SrConfig } from './types.js';

export interface AttachedSr {
  config: SrConfig;
  /** The directory its volumes lie in (a VM disk under it is on this SR); undefined if unknown. */
  volumeDir?: string;
}

/** Where an SR's volumes live (pure): the directory of a volume path of it. */
export function volumeDirOf(sr: SrConfig, ctx: Pick<DriverContext, 'srMountDir'>): string | undefined {
  const p = volumePath(sr.type, sr.uuid, sr.deviceConfig, 'x', ctx.srMountDir);
  return p ? dirname(p.path) : undefined;
}

export class AttachedSrs {
  private readonly srs = new Map<string, AttachedSr>();

  constructor(private readonly ctx: Pick<DriverContext, 'srMountDir'> = {}) {}

  add(config: SrConfig): void {
    this.srs.set(config.uuid, { config, volumeDir: volumeDirOf(config, this.ctx) });
  }

  remove(uuid: string): void {
    this.srs.delete(uuid);
  }

  list(): AttachedSr[] {
    return [...this.srs.values()];
  }
}
