// The SRs' figures: each attached SR's own RRD (size, physical_utilisation from its driver's
// stats, asked at most once a minute: an LVM SR's costs a `vgs`), and the per-SR I/O xcp-rrdd puts
// on the host RRD (read_<sr8>, iops_total_<sr8>…) as sums over the VM disks on that SR (QEMU does
// all guest disk I/O on a Berth host, so its counters are the SR's traffic from this host).
import type { SrStats } from '../../shared/host/storage.js';
import type { SampledValue } from '../../shared/rrd/types.js';
import type { AttachedSrs } from '../storage/attached.js';
import * as proc from '../storage/procedures.js';
import type { DriverContext } from '../storage/types.js';
import { addIo, type IoCounters, ioValues, ZERO_IO } from './sample-io.js';
import { specOf } from './sample-spec.js';

export interface SrView {
  uuid: string;
  /** VM disks whose path lies under it are on this SR. */
  volumeDir?: string;
  stats(): Promise<SrStats>;
}

/** The registry's SRs with their drivers' stats. */
export function srViews(attached: AttachedSrs, ctx: DriverContext): SrView[] {
  return attached.list().map((a) => ({
    uuid: a.config.uuid,
    volumeDir: a.volumeDir,
    stats: () => proc.sr_stats(ctx, a.config),
  }));
}

/** Is `path` inside directory `dir`? (pure) */
export const isUnder = (path: string, dir: string | undefined): boolean =>
  Boolean(dir) && path.startsWith(`${dir!.replace(/\/+$/, '')}/`);

/** A disk's reading in this cycle: where it is, and its change since its previous reading. */
export interface DiskDelta {
  path: string;
  delta: IoCounters;
}

/** The SR's own RRD values (pure). */
export function srValues(s: SrStats): SampledValue[] {
  return [
    { spec: specOf('sr', 'size'), value: s.physicalSize },
    { spec: specOf('sr', 'physical_utilisation'), value: s.physicalUtilisation },
  ].filter((v) => Number.isFinite(v.value) && v.value >= 0);
}

interface SrState {
  stats?: SrStats;
  statsAt: number;
  asking?: Promise<void>;
  /** Accumulated counters of every disk change seen on it: a monotonic DERIVE source. */
  io: IoCounters;
  /** Seconds of the previous I/O reading (0: none yet). */
  ioAt: number;
}

export class SrSampler {
  private readonly state = new Map<string, SrState>();

  constructor(
    private readonly refreshS = 60,
    private readonly waitMs = 500,
  ) {}

  /** Each SR's latest known stats (asked again once `refreshS` old; waited for `waitMs` at most). */
  async sizes(srs: SrView[], time: number): Promise<Map<string, SampledValue[]>> {
    const waits: Promise<void>[] = [];
    for (const sr of srs) {
      const st = this.get(sr.uuid);
      if (!st.asking && time - st.statsAt >= this.refreshS) {
        st.statsAt = time;
        st.asking = sr
          .stats()
          .then((s) => {
            st.stats = s;
          })
          .catch(() => undefined)
          .finally(() => {
            st.asking = undefined;
          });
      }
      if (st.asking) waits.push(st.asking);
    }
    if (waits.length)
      await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, this.waitMs).unref())]);
    const out = new Map<string, SampledValue[]>();
    for (const sr of srs) {
      const s = this.state.get(sr.uuid)?.stats;
      if (s) out.set(sr.uuid, srValues(s));
    }
    const live = new Set(srs.map((s) => s.uuid));
    for (const uuid of this.state.keys()) if (!live.has(uuid)) this.state.delete(uuid);
    return out;
  }

  /** The per-SR I/O data sources of the host RRD, from this cycle's disk changes. */
  io(srs: SrView[], disks: DiskDelta[], time: number): SampledValue[] {
    const out: SampledValue[] = [];
    for (const sr of srs) {
      if (!/^[0-9a-f]{8}/.test(sr.uuid)) continue; // no name for it in xapi's scheme
      const st = this.get(sr.uuid);
      let sum = ZERO_IO;
      for (const d of disks) if (isUnder(d.path, sr.volumeDir)) sum = addIo(sum, d.delta);
      st.io = addIo(st.io, sum);
      const dt = st.ioAt ? time - st.ioAt : 0;
      const sr8 = sr.uuid.slice(0, 8);
      for (const [key, v] of ioValues(st.io, st.ioAt ? sum : undefined, dt))
        if (Number.isFinite(v)) out.push({ spec: specOf('host', `${key}_${sr8}`), value: v });
      st.ioAt = time;
    }
    return out;
  }

  private get(uuid: string): SrState {
    let st = this.state.get(uuid);
    if (!st) {
      st = { statsAt: Number.NEGATIVE_INFINITY, io: { ...ZERO_IO }, ioAt: 0 };
      this.state.set(uuid, st);
    }
    return st;
  }
}
