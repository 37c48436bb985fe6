// The RRDs a host's agent holds in memory (xcp-rrdd's model): the host's own, one per VM that runs
// or ran here and has not been taken by the manager, one per SR attached here. Every 5 s cycle
// feeds a HostSample to them (ingest); the procedures (rpc.ts) read, push, take and edit them; the
// archive (archive.ts) writes them to disk and reloads them at start.
//
// What is recorded is what the RRD holds: a data source enters the RRD when it is standard
// (§7's ✓) or when record_data_source asks for it; the RRD's own list of data sources is thus
// the "recorded" set, and it travels with the archive and with the VM.
import { XenApiError } from '../../shared/errors.js';
import type { DataSourceInfo, LatestValues, RrdOwner, StatsSettings } from '../../shared/host/stats.js';
import { logger } from '../../shared/log.js';
import {
  addDs,
  createRrd,
  dsDefs,
  lastValue,
  type Rrd,
  removeDs,
  setDsTransform,
  updateRrd,
} from '../../shared/rrd/rrd.js';
import type { XportSource } from '../../shared/rrd/xport.js';
import type { DataSourceSpec, DsDef, SampledValue } from '../../shared/rrd/types.js';
import type { HostSample } from './sample.js';

const log = logger('stats-store');

/** One RRD and what the latest sample said of its owner. */
export interface HeldRrd {
  rrd: Rrd;
  /** The data sources of the owner's latest reading (recorded or not), by name. */
  live: Map<string, DataSourceSpec>;
}

/** xapi's data_source for a name archived in the RRD but not sampled any more. */
const ARCHIVED_ONLY = { description: 'description not available', units: 'unknown' } as const;

export function dsDef(spec: DsDef): DsDef {
  const d: DsDef = { name: spec.name, type: spec.type, min: spec.min, max: spec.max };
  if (spec.transform) d.transform = spec.transform;
  return d;
}

/** A number for the JSON RPC: NaN and ±Infinity cannot cross it (the contract says null). */
export const finiteOrNull = (x: number | undefined): number | null =>
  x === undefined || !Number.isFinite(x) ? null : x;

const badDs = (name: string) => new XenApiError('INVALID_VALUE', ['data_source', name]);

export class StatsStore {
  host: HeldRrd | undefined;
  readonly vms = new Map<string, HeldRrd>();
  readonly srs = new Map<string, HeldRrd>();
  /** VMs and SRs of the latest sample: running / attached here. */
  runningVms = new Set<string>();
  attachedSrs = new Set<string>();
  /** Epoch seconds of the latest sample fed (0: none yet). */
  lastTime = 0;
  settings: StatsSettings = { createMinMaxInNewVmRrds: false };
  /** owner:uuid of RRDs whose latest update failed (logged once until one succeeds again). */
  private readonly failing = new Set<string>();
  /**
   * owner:uuid taken (with remove) since the latest ingest: the reading being taken may predate
   * the take (the VM list is read before QMP is awaited), so the next ingest does not make them a
   * fresh RRD; the manager's push or a later reading does.
   */
  private readonly takenSinceIngest = new Set<string>();
  /** Told when an RRD stops being held (taken with remove), so its archive goes too. */
  onDropped: (owner: 'vm' | 'sr', uuid: string) => void = () => {};

  /** Feeds one cycle's readings to every RRD (creating those of new owners). */
  ingest(sample: HostSample): void {
    const t = sample.time;
    this.host = this.feed('host', '', this.host, sample.host, t, true);
    this.runningVms = this.feedAll('vm', sample.vms, t);
    this.attachedSrs = this.feedAll('sr', sample.srs, t);
    this.takenSinceIngest.clear();
    this.lastTime = t;
  }

  /** Feeds the readings of VMs or SRs; returns the owners kept as present here. */
  private feedAll(owner: 'vm' | 'sr', readings: Map<string, SampledValue[]>, t: number): Set<string> {
    const table = this.table(owner);
    const here = new Set<string>();
    for (const [uuid, values] of readings) {
      const held = table.get(uuid);
      // Taken by the manager while this reading was under way: it stopped (or left) here.
      if (!held && this.takenSinceIngest.has(`${owner}:${uuid}`)) continue;
      table.set(uuid, this.feed(owner, uuid, held, values, t, this.settings.createMinMaxInNewVmRrds));
      here.add(uuid);
    }
    return here;
  }

  private feed(
    owner: RrdOwner,
    uuid: string,
    held: HeldRrd | undefined,
    values: SampledValue[],
    time: number,
    minMax: boolean,
  ): HeldRrd {
    const live = new Map(values.map((v) => [v.spec.name, v.spec]));
    if (!held) {
      // xapi's create_fresh_rrd (the standard sources), one step back, then this reading: the
      // counters' baseline is taken now, so DERIVE figures come with the next cycle, not the one
      // after (xapi drops the first reading).
      const ds = values.filter((v) => v.spec.standard).map((v) => dsDef(v.spec));
      const rrd = createRrd({ time: Math.max(0, time - 5), ds, minMax });
      updateRrd(rrd, time, new Map(values.map((v) => [v.spec.name, v.value])));
      return { rrd, live };
    }
    held.live = live;
    try {
      const have = new Set(dsDefs(held.rrd).map((d) => d.name));
      // xapi's merge_new_dss: a standard source that appeared (or was forgotten) joins the RRD.
      for (const v of values) {
        if (v.spec.standard && !have.has(v.spec.name)) addDs(held.rrd, dsDef(v.spec), time);
        // Dumps carry no `inverse` (as xapi's): an RRD reloaded or pushed gets it back from the
        // catalog, or the host's cpuN would record idle time instead of busy time.
        else if (have.has(v.spec.name)) setDsTransform(held.rrd, v.spec.name, v.spec.transform);
      }
      updateRrd(held.rrd, time, new Map(values.map((v) => [v.spec.name, v.value])));
      this.failing.delete(`${owner}:${uuid}`);
    } catch (e) {
      // A pushed RRD from a host whose clock ran ahead, say: this cycle is lost for it, not the
      // rest. Such an RRD fails every cycle until time passes its last update: said once.
      const key = `${owner}:${uuid}`;
      if (!this.failing.has(key)) {
        this.failing.add(key);
        log.warn('RRD update failed; not said again until one succeeds', { owner, uuid, error: String(e) });
      }
    }
    return held;
  }

  private table(owner: 'vm' | 'sr'): Map<string, HeldRrd> {
    return owner === 'vm' ? this.vms : this.srs;
  }

  /** The RRD held for an owner (uuid ignored for the host). */
  get(owner: RrdOwner, uuid: string): HeldRrd | undefined {
    return owner === 'host' ? this.host : this.table(owner).get(uuid);
  }

  /** Whether the owner is here now (host always; VM running, SR attached in the latest sample). */
  present(owner: RrdOwner, uuid: string): boolean {
    return owner === 'host' || (owner === 'vm' ? this.runningVms : this.attachedSrs).has(uuid);
  }

  /** Puts an RRD (pushed by the manager or reloaded from the archive) in place of any held one. */
  put(owner: RrdOwner, uuid: string, rrd: Rrd): void {
    const live = this.get(owner, uuid)?.live ?? new Map();
    this.failing.delete(`${owner}:${uuid}`);
    if (owner === 'host') this.host = { rrd, live };
    else this.table(owner).set(uuid, { rrd, live });
  }

  /** The held RRD of a VM or SR; `remove` forgets it here (and its archive). */
  take(owner: 'vm' | 'sr', uuid: string, remove: boolean): Rrd | undefined {
    const held = this.table(owner).get(uuid);
    if (remove) this.takenSinceIngest.add(`${owner}:${uuid}`);
    if (held && remove) {
      this.table(owner).delete(uuid);
      this.onDropped(owner, uuid);
    }
    return held?.rrd;
  }

  /** xapi's add_ds: starts recording a source the latest reading offered; idempotent. */
  record(owner: RrdOwner, uuid: string, name: string): void {
    const held = this.mustGet(owner, uuid);
    if (dsDefs(held.rrd).some((d) => d.name === name)) return;
    const spec = held.live.get(name);
    if (!spec) throw badDs(name);
    addDs(held.rrd, dsDef(spec), this.lastTime || Date.now() / 1000);
  }

  /** Drops a source's archive; a standard one is recorded afresh next cycle, another is not. */
  forget(owner: RrdOwner, uuid: string, name: string): void {
    const held = this.mustGet(owner, uuid);
    if (dsDefs(held.rrd).some((d) => d.name === name)) removeDs(held.rrd, name);
    else if (!held.live.has(name)) throw badDs(name);
  }

  /** Latest value of a recorded source (NaN: unknown). */
  query(owner: RrdOwner, uuid: string, name: string): number {
    const held = this.mustGet(owner, uuid);
    const v = lastValue(held.rrd, name);
    if (v === undefined) throw badDs(name);
    return v;
  }

  private mustGet(owner: RrdOwner, uuid: string): HeldRrd {
    const held = this.get(owner, uuid);
    if (!held) throw new XenApiError('INVALID_VALUE', [owner === 'host' ? 'host' : 'uuid', uuid]);
    return held;
  }

  /**
   * xapi's query_possible_dss: the union of the latest reading's sources (enabled when in the
   * RRD) and the RRD's (archived-only ones: "description not available"), sorted by name; null
   * when nothing is known of the owner here.
   */
  dataSources(owner: RrdOwner, uuid: string): DataSourceInfo[] | null {
    const held = this.get(owner, uuid);
    if (!held) return null;
    const recorded = new Map(dsDefs(held.rrd).map((d) => [d.name, d]));
    const out = new Map<string, DataSourceInfo>();
    for (const [name, s] of held.live) {
      const on = recorded.has(name);
      out.set(name, {
        name,
        description: s.description,
        enabled: on,
        standard: s.standard,
        min: finiteOrNull(s.min),
        max: finiteOrNull(s.max),
        units: s.units,
        value: on ? finiteOrNull(lastValue(held.rrd, name)) : null,
      });
    }
    for (const [name, d] of recorded)
      if (!out.has(name))
        out.set(name, {
          name,
          ...ARCHIVED_ONLY,
          enabled: false,
          standard: false,
          min: finiteOrNull(d.min),
          max: finiteOrNull(d.max),
          value: finiteOrNull(lastValue(held.rrd, name)),
        });
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The sources of an `/rrd_updates` answer: host first, then VMs, then SRs (§6.4's column order). */
  updateSources(q: {
    host: boolean;
    hostUuid: string;
    vmUuids?: string[];
    srUuids: string[];
  }): XportSource[] {
    const out: XportSource[] = [];
    if (q.host && this.host) out.push({ owner: 'host', uuid: q.hostUuid, rrd: this.host.rrd });
    const vms = q.vmUuids ?? [...this.runningVms].sort();
    for (const uuid of new Set(vms)) {
      const held = this.vms.get(uuid);
      if (held) out.push({ owner: 'vm', uuid, rrd: held.rrd });
    }
    for (const uuid of new Set(q.srUuids)) {
      const held = this.srs.get(uuid);
      if (held) out.push({ owner: 'sr', uuid, rrd: held.rrd });
    }
    return out;
  }

  /** The latest value of every recorded source of the host, running VMs and attached SRs. */
  latest(): LatestValues {
    const values = (h: HeldRrd) =>
      Object.fromEntries(dsDefs(h.rrd).map((d) => [d.name, finiteOrNull(lastValue(h.rrd, d.name))]));
    const pick = (table: Map<string, HeldRrd>, here: Set<string>) => {
      const o: Record<string, Record<string, number | null>> = {};
      for (const uuid of [...here].sort()) {
        const h = table.get(uuid);
        if (h) o[uuid] = values(h);
      }
      return o;
    };
    return {
      time: Math.floor(this.lastTime),
      host: this.host ? values(this.host) : {},
      vms: pick(this.vms, this.runningVms),
      srs: pick(this.srs, this.attachedSrs),
    };
  }
}
