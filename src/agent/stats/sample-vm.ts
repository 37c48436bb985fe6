// Each running VM's data sources (owner `vm`): vCPU usage from its QEMU vCPU threads' CPU time,
// memory and balloon target, VIF throughput from its TAPs' counters (swapped: the guest's point
// of view, as xapi), disk I/O from one `query-blockstats`. A VM whose QMP does not answer within
// the timeout is left out of the cycle; nothing here throws.
import type { SampledValue } from '../../shared/rrd/types.js';
import type { InstanceManager } from '../instances.js';
import { diffIo, type IoCounters, ioValues, parseBlockstats } from './sample-io.js';
import type { LinkCounters, TaskStat } from './sample-parse.js';
import { specOf } from './sample-spec.js';

/** What the sampler needs of a running VM (instanceViews builds it from the InstanceManager). */
export interface VmView {
  uuid: string;
  pid: number;
  /** Paused VMs are sampled too (their CPU time simply stands still). */
  paused: boolean;
  memoryBytes: number;
  balloon: boolean;
  /** The last balloon target set, if any. */
  balloonTarget?: number;
  disks: { device: string; path: string }[];
  nics: { device: string; tap?: string }[];
  /** One QMP command; rejects on timeout or a closed monitor. */
  qmp(command: string, timeoutMs: number): Promise<unknown>;
}

/** The InstanceManager's running and paused VMs as the sampler sees them. */
export function instanceViews(vms: InstanceManager): VmView[] {
  const out: VmView[] = [];
  for (const info of vms.all()) {
    if (info.state !== 'running' && info.state !== 'paused') continue;
    const vm = vms.peek(info.uuid);
    if (!vm?.pid) continue;
    out.push({
      uuid: info.uuid,
      pid: vm.pid,
      paused: info.state === 'paused',
      memoryBytes: vm.spec.memoryBytes,
      balloon: vm.spec.balloon,
      balloonTarget: vm.balloonTarget,
      disks: vm.spec.disks.filter((d) => d.path).map((d) => ({ device: d.device, path: d.path })),
      nics: vm.spec.nics.map((n) => ({ device: n.device, tap: n.tap })),
      qmp: (command, timeoutMs) => vm.requireQmp().command(command, undefined, timeoutMs),
    });
  }
  return out;
}

/** `query-cpus-fast` → vCPU thread ids in cpu-index order. */
export function parseVcpuThreads(ret: unknown): number[] | undefined {
  if (!Array.isArray(ret)) return undefined;
  const cpus = ret
    .filter((c) => c && Number.isInteger(c['cpu-index']) && Number.isInteger(c['thread-id']))
    .sort((a, b) => a['cpu-index'] - b['cpu-index']);
  return cpus.length ? cpus.map((c) => c['thread-id'] as number) : undefined;
}

/** `query-balloon` → the guest's current memory in bytes. */
export function parseBalloon(ret: unknown): number | undefined {
  const v = (ret as { actual?: unknown } | null)?.actual;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** What one VM's reading gathered (the pure part's input). */
export interface VmReading {
  view: VmView;
  /** vCPU thread stats by vCPU index; undefined entries could not be read. */
  vcpus: (TaskStat | undefined)[];
  balloonActual?: number;
  disks: Map<string, IoCounters>;
  /** Change of each disk's counters since this VM's previous reading (absent at the first). */
  diskDeltas: Map<string, IoCounters>;
  /** Seconds since this VM's previous reading (0 at the first). */
  dt: number;
  taps: Map<string, LinkCounters>;
}

/**
 * The VM's values (pure). cpuN and cpu_usage carry CPU seconds (DERIVE → fraction of one CPU);
 * cpu_usage is the vCPUs' total divided by their number (Xen's domain time over online vCPUs).
 */
export function vmValues(r: VmReading): SampledValue[] {
  const out: SampledValue[] = [];
  const put = (name: string, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) out.push({ spec: specOf('vm', name), value });
  };
  let total = 0;
  r.vcpus.forEach((t, i) => {
    if (t) put(`cpu${i}`, t.cpuSeconds);
    total += t ? t.cpuSeconds : Number.NaN;
  });
  if (r.vcpus.length) put('cpu_usage', total / r.vcpus.length);
  put('memory', r.balloonActual ?? r.view.memoryBytes);
  put('memory_target', r.view.balloonTarget ?? r.view.memoryBytes);
  for (const nic of r.view.nics) {
    const c = nic.tap ? r.taps.get(nic.tap) : undefined;
    if (!c) continue;
    // The TAP's receive is what the guest sent.
    put(`vif_${nic.device}_rx`, c.txBytes);
    put(`vif_${nic.device}_tx`, c.rxBytes);
    put(`vif_${nic.device}_rx_errors`, c.txErrors);
    put(`vif_${nic.device}_tx_errors`, c.rxErrors);
  }
  for (const d of r.view.disks) {
    const c = r.disks.get(d.device);
    if (!c) continue;
    for (const [key, v] of ioValues(c, r.diskDeltas.get(d.device), r.dt)) put(`vbd_${d.device}_${key}`, v);
  }
  return out;
}

/** Reads a task's stat file; undefined if the thread is gone. */
export type TaskReader = (pid: number, tid: number) => TaskStat | undefined;

interface VmState {
  pid: number;
  tids?: number[];
  time: number;
  disks: Map<string, IoCounters>;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Reads the VMs, keeping what the deltas need between cycles: each VM's previous disk counters
 * and its vCPU thread ids (asked again only when QEMU's pid changes or a thread is gone).
 */
export class VmSampler {
  private readonly state = new Map<string, VmState>();

  constructor(
    private readonly readTask: TaskReader,
    private readonly qmpTimeoutMs = 1000,
  ) {}

  /** One reading per VM, concurrently; VMs that did not answer are absent from the result. */
  async read(
    views: VmView[],
    now: () => number,
    taps: Map<string, LinkCounters>,
  ): Promise<Map<string, VmReading>> {
    const results = await Promise.all(views.map((v) => this.readOne(v, now, taps).catch(() => undefined)));
    const out = new Map<string, VmReading>();
    for (const r of results) if (r) out.set(r.view.uuid, r);
    const live = new Set(views.map((v) => v.uuid));
    for (const uuid of this.state.keys()) if (!live.has(uuid)) this.state.delete(uuid);
    return out;
  }

  private async readOne(
    view: VmView,
    now: () => number,
    taps: Map<string, LinkCounters>,
  ): Promise<VmReading> {
    let st = this.state.get(view.uuid);
    if (!st || st.pid !== view.pid) {
      st = { pid: view.pid, time: 0, disks: new Map() };
      this.state.set(view.uuid, st);
    }
    const ask = (cmd: string) => withTimeout(view.qmp(cmd, this.qmpTimeoutMs), this.qmpTimeoutMs);
    const [blockstats, balloon, cpus] = await Promise.all([
      ask('query-blockstats'),
      view.balloon ? ask('query-balloon') : undefined,
      st.tids ? undefined : ask('query-cpus-fast'),
    ]);
    const time = now();
    if (cpus !== undefined) st.tids = parseVcpuThreads(cpus);
    const vcpus = (st.tids ?? []).map((tid) => this.readTask(view.pid, tid));
    if (vcpus.some((t) => !t)) st.tids = undefined; // vCPU unplugged or QEMU gone: ask again
    const disks = parseBlockstats(blockstats);
    const diskDeltas = new Map<string, IoCounters>();
    for (const [dev, c] of disks) {
      const prev = st.disks.get(dev);
      const d = prev && st.time ? diffIo(prev, c) : undefined;
      if (d) diskDeltas.set(dev, d);
    }
    const dt = st.time ? time - st.time : 0;
    st.time = time;
    st.disks = disks;
    return { view, vcpus, balloonActual: parseBalloon(balloon), disks, diskDeltas, dt, taps };
  }
}
