// Facts about the physical host (CPUs, memory, names, addresses) in the shapes xapi reports:
// host.cpu_info, host_cpu objects, host_metrics. Parsing is pure; reading /proc is the thin layer.
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface CpuFacts {
  number: number;
  vendor: string;
  modelname: string;
  family: number;
  model: number;
  stepping: string;
  speed: number;
  flags: string;
  physicalId: string;
}

/** Parses /proc/cpuinfo into one entry per logical CPU. */
export function parseCpuinfo(text: string): CpuFacts[] {
  const out: CpuFacts[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const kv = new Map<string, string>();
    for (const line of block.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
    }
    if (!kv.has('processor')) continue;
    out.push({
      number: Number(kv.get('processor')),
      vendor: kv.get('vendor_id') ?? '',
      modelname: kv.get('model name') ?? '',
      family: Number(kv.get('cpu family') ?? 0),
      model: Number(kv.get('model') ?? 0),
      stepping: kv.get('stepping') ?? '',
      speed: Math.round(Number(kv.get('cpu MHz') ?? 0)),
      flags: kv.get('flags') ?? '',
      physicalId: kv.get('physical id') ?? '0',
    });
  }
  return out;
}

/** host.cpu_info as xapi fills it (keys cpu_count, socket_count, vendor, speed, modelname, …). */
export function cpuInfoMap(cpus: CpuFacts[]): Record<string, string> {
  const first = cpus[0];
  const sockets = new Set(cpus.map((c) => c.physicalId)).size || 1;
  return {
    cpu_count: String(cpus.length),
    socket_count: String(sockets),
    threads_per_core: '1',
    vendor: first?.vendor ?? '',
    speed: first ? first.speed.toFixed(3) : '0',
    modelname: first?.modelname ?? '',
    family: String(first?.family ?? 0),
    model: String(first?.model ?? 0),
    stepping: first?.stepping ?? '',
    flags: first?.flags ?? '',
    features: '',
  };
}

export interface HostFacts {
  hostname: string;
  address: string;
  cpus: CpuFacts[];
  memoryTotal: number;
  memoryFree: number;
  kernel: string;
}

/** The first non-internal IPv4 address, else loopback. */
export function primaryAddress(ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>): string {
  for (const list of Object.values(ifaces)) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export function readHostFacts(): HostFacts {
  let cpus: CpuFacts[] = [];
  try {
    cpus = parseCpuinfo(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    cpus = os.cpus().map((c, i) => ({
      number: i,
      vendor: '',
      modelname: c.model,
      family: 0,
      model: 0,
      stepping: '',
      speed: c.speed,
      flags: '',
      physicalId: '0',
    }));
  }
  return {
    hostname: os.hostname(),
    address: primaryAddress(os.networkInterfaces()),
    cpus,
    memoryTotal: os.totalmem(),
    memoryFree: os.freemem(),
    kernel: os.release(),
  };
}
