// The host's sampler: one reading of the host, its VMs and its attached SRs per call. Cost
// matters (a cycle every 5 s with 100 VMs): each /proc file is read once per cycle (one
// /proc/net/dev for every PIF and TAP), the VMs' QMP queries run concurrently, vCPU thread ids
// are asked once per QEMU, and no process is spawned per cycle.
import { readFileSync } from 'node:fs';
import type { InstanceManager } from '../instances.js';
import type { AttachedSrs } from '../storage/attached.js';
import type { DriverContext } from '../storage/types.js';
import type { HostSample, Sampler } from './sample.js';
import { hostValues, PifClassifier } from './sample-host.js';
import {
  type LinkCounters,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseTaskStat,
  type TaskStat,
} from './sample-parse.js';
import { type DiskDelta, SrSampler, type SrView, srViews } from './sample-sr.js';
import { instanceViews, VmSampler, type VmView, vmValues } from './sample-vm.js';

export interface SamplerDeps {
  /** Epoch seconds, fractional (tests inject a clock). */
  now?: () => number;
  /** The VMs running here. */
  vms: () => VmView[];
  /** The SRs attached here. */
  srs?: () => SrView[];
  /** Reads a kernel file (tests: fixtures); throws if it cannot. */
  readFile?: (path: string) => string;
  /** Virtual link kinds that count as NICs (the agent's --nic-kinds; tests: veth). */
  nicKinds?: string[];
  /** Which interfaces are PIFs (default: PifClassifier over `ip -j -d link`). */
  classifyPifs?: (names: Iterable<string>) => Promise<{ pifs: Set<string>; bonds: Set<string> }>;
  /**
   * The agent does its networking in another network namespace (--netns): PIF and TAP counters
   * are not in this process's /proc/net/dev, so PIF and VIF sources are left out.
   */
  foreignNetns?: boolean;
  /** How long a VM's QMP may take to answer before the VM is left out of the cycle (ms). */
  qmpTimeoutMs?: number;
  /** Seconds between asks of an SR driver's stats. */
  srRefreshS?: number;
}

const readText = (path: string) => readFileSync(path, 'utf8');

/** Reads a file, undefined if it cannot be read (the figures from it are left out). */
function tryRead(read: (p: string) => string, path: string): string | undefined {
  try {
    return read(path);
  } catch {
    return undefined;
  }
}

export function createSampler(deps: SamplerDeps): Sampler {
  const now = deps.now ?? (() => Date.now() / 1000);
  const read = deps.readFile ?? readText;
  const pifClassifier = new PifClassifier(deps.nicKinds);
  const classify = deps.classifyPifs ?? ((names: Iterable<string>) => pifClassifier.classify(names));
  const readTask = (pid: number, tid: number): TaskStat | undefined => {
    const t = tryRead(read, `/proc/${pid}/task/${tid}/stat`);
    return t === undefined ? undefined : parseTaskStat(t);
  };
  const vmSampler = new VmSampler(readTask, deps.qmpTimeoutMs ?? 1000);
  const srSampler = new SrSampler(deps.srRefreshS ?? 60);

  return {
    async sample(): Promise<HostSample> {
      const views = safe(deps.vms, []);
      const srs = deps.srs ? safe(deps.srs, []) : [];
      const netText = deps.foreignNetns ? undefined : tryRead(read, '/proc/net/dev');
      const links = netText === undefined ? new Map<string, LinkCounters>() : parseNetDev(netText);
      // The VMs' QMP, the SR drivers and the PIF classification are waited for together.
      const [readings, srSizes, pifSet] = await Promise.all([
        vmSampler.read(views, now, links),
        srSampler.sizes(srs, now()),
        links.size ? classify(links.keys()).catch(() => undefined) : undefined,
      ]);
      const time = now();
      const vms = new Map<string, ReturnType<typeof vmValues>>();
      const disks: DiskDelta[] = [];
      let runningVcpus = 0;
      for (const [uuid, r] of readings) {
        vms.set(uuid, vmValues(r));
        for (const t of r.vcpus) if (t?.state === 'R') runningVcpus++;
        for (const d of r.view.disks) {
          const delta = r.diskDeltas.get(d.device);
          if (delta) disks.push({ path: d.path, delta });
        }
      }
      const pifs = new Map<string, LinkCounters>();
      for (const dev of pifSet?.pifs ?? []) {
        const c = links.get(dev);
        if (c) pifs.set(dev, c);
      }
      const statText = tryRead(read, '/proc/stat');
      const memText = tryRead(read, '/proc/meminfo');
      const loadText = tryRead(read, '/proc/loadavg');
      const host = [
        ...hostValues({
          stat: statText === undefined ? { idleSeconds: [] } : parseProcStat(statText),
          meminfo: memText === undefined ? {} : parseMeminfo(memText),
          loadavg: loadText === undefined ? undefined : parseLoadavg(loadText),
          pifs,
          bonds: pifSet?.bonds ?? new Set(),
          runningVcpus,
          runningVms: views.filter((v) => !v.paused).length,
        }),
        ...srSampler.io(srs, disks, time),
      ];
      return { time, host, vms, srs: srSizes };
    },
  };
}

function safe<T>(f: () => T, dflt: T): T {
  try {
    return f();
  } catch {
    return dflt;
  }
}

/** The agent's sampler over its instance manager and attached-SR registry. */
export function agentSampler(
  vms: InstanceManager,
  attached: AttachedSrs,
  ctx: DriverContext,
  opts: Omit<SamplerDeps, 'vms' | 'srs'> = {},
): Sampler {
  return createSampler({ ...opts, vms: () => instanceViews(vms), srs: () => srViews(attached, ctx) });
}
