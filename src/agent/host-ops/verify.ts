// node_verify (ganeti-noded.md §5): the `what` keys that mean something on a QEMU host, each
// checked only when asked, with its own time limit. Paths read for checksums are confined as
// get_file_info's.
import { createHash } from 'node:crypto';
import {
  constants,
  accessSync,
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { connect, isIP } from 'node:net';
import { run } from '../../shared/exec.js';
import type {
  HypervisorReport,
  NodeVerifyReport,
  NodeVerifyRequest,
  StorageReport,
} from '../../shared/host/host-ops.js';
import { PROTOCOL_VERSION } from '../../shared/noded/protocol.js';
import { BERTH_VERSION } from '../../shared/version.js';
import { QEMU_BINARY } from '../qemu/vm-process.js';
import { validHostName } from './etc-hosts.js';
import { invalid } from './failures.js';
import { allowedReadPath } from './file-info.js';
import type { HostOpsConfig } from './options.js';

const BRIDGE = /^[A-Za-z0-9_.:-]{1,15}$/;
const MAX_ITEMS = 256;
const NET_TEST_TIMEOUT_MS = 5_000;
const MAX_CHECKSUM_BYTES = 64 * 1024 * 1024;

const list = (v: unknown, key: string): unknown[] => {
  if (!Array.isArray(v) || v.length > MAX_ITEMS) throw invalid(key, v);
  return v;
};

export async function hypervisorReport(): Promise<HypervisorReport> {
  const accel = ['tcg'];
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
    accel.unshift('kvm');
  } catch {
    /* no usable /dev/kvm: TCG only */
  }
  try {
    const r = await run(QEMU_BINARY, ['--version'], { timeoutMs: 10_000 });
    if (r.code !== 0)
      return {
        error: `${QEMU_BINARY} --version exited ${r.code}`,
        binary: QEMU_BINARY,
        version: null,
        accel,
      };
    return { error: null, binary: QEMU_BINARY, version: r.stdout.split('\n')[0].trim(), accel };
  } catch (e) {
    return { error: String((e as Error).message ?? e), binary: QEMU_BINARY, version: null, accel };
  }
}

function sha1(path: string): string | null {
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > MAX_CHECKSUM_BYTES) return null;
    return createHash('sha1').update(readFileSync(path)).digest('hex');
  } catch {
    return null;
  }
}

export async function storageReport(roots: readonly string[]): Promise<StorageReport> {
  const out: StorageReport = { roots: [], vgs: [] };
  for (const path of roots) {
    try {
      const s = statfsSync(path);
      out.roots.push({ path, size: s.blocks * s.bsize, free: s.bavail * s.bsize, error: null });
    } catch (e) {
      out.roots.push({ path, size: null, free: null, error: (e as NodeJS.ErrnoException).code ?? String(e) });
    }
  }
  try {
    const r = await run(
      'vgs',
      ['--noheadings', '--units', 'm', '--nosuffix', '--separator', '|', '-o', 'vg_name,vg_size,vg_free'],
      { timeoutMs: 30_000 },
    );
    if (r.code === 0)
      for (const line of r.stdout.split('\n')) {
        const [name, size, free] = line.trim().split('|');
        if (name && size && free)
          out.vgs.push({ name, size_mib: Math.round(Number(size)), free_mib: Math.round(Number(free)) });
      }
  } catch {
    /* no LVM tools */
  }
  return out;
}

/** Ganeti's TCP ping: connect and close, within the time limit. */
export function tcpReachable(
  address: string,
  port: number,
  timeoutMs = NET_TEST_TIMEOUT_MS,
): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect({ host: address, port });
    const done = (why: string | null) => {
      clearTimeout(timer);
      s.destroy();
      resolve(why);
    };
    const timer = setTimeout(
      () => done(`no answer from ${address}:${port} within ${timeoutMs / 1000} s`),
      timeoutMs,
    );
    s.once('connect', () => done(null));
    s.once('error', (e: NodeJS.ErrnoException) =>
      done(`cannot reach ${address}:${port}: ${e.code ?? e.message}`),
    );
  });
}

/** The bridges of `names` that do not exist (in the host networking's namespace, if any). */
export async function missingBridges(names: string[], netns: string | null): Promise<string[]> {
  if (!netns) return names.filter((b) => !existsSync(`/sys/class/net/${b}/bridge`));
  const r = await run('ip', ['-n', netns, '-j', 'link', 'show', 'type', 'bridge'], { timeoutMs: 10_000 });
  const present = new Set(
    r.code === 0 ? (JSON.parse(r.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname) : [],
  );
  return names.filter((b) => !present.has(b));
}

function scriptProblem(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return 'not a regular file';
    accessSync(path, constants.X_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'missing' : code === 'EACCES' ? 'not executable' : String(code ?? e);
  }
}

export async function nodeVerify(cfg: HostOpsConfig, what: unknown): Promise<NodeVerifyReport> {
  if (!what || typeof what !== 'object' || Array.isArray(what)) throw invalid('what', what);
  const w = what as NodeVerifyRequest;
  const out: NodeVerifyReport = {};
  if (w.hypervisor) out.hypervisor = await hypervisorReport();
  if (w.filelist !== undefined) {
    const paths = list(w.filelist, 'filelist').map((p) => allowedReadPath(cfg, p, 'filelist'));
    out.filelist = Object.fromEntries(paths.map((p) => [p, sha1(p)]));
  }
  if (w.bridges !== undefined) {
    const names = list(w.bridges, 'bridges');
    for (const b of names)
      if (typeof b !== 'string' || !BRIDGE.test(b) || b === '.' || b === '..') throw invalid('bridges', b);
    out.bridges = await missingBridges(names as string[], cfg.netns);
  }
  if (w.storage) out.storage = await storageReport(cfg.storageRoots);
  if (w.time) {
    const now = Date.now();
    out.time = [Math.floor(now / 1000), (now % 1000) * 1000];
  }
  if (w['node-net-test'] !== undefined) {
    const nodes = list(w['node-net-test'], 'node-net-test') as {
      name: unknown;
      address: unknown;
      port: unknown;
    }[];
    for (const n of nodes)
      if (
        !n ||
        typeof n.name !== 'string' ||
        n.name.length > 255 ||
        !(validHostName(n.address) || (typeof n.address === 'string' && isIP(n.address) !== 0)) ||
        typeof n.port !== 'number' ||
        !Number.isInteger(n.port) ||
        n.port < 1 ||
        n.port > 65535
      )
        throw invalid('node-net-test', n);
    const results = await Promise.all(nodes.map((n) => tcpReachable(n.address as string, n.port as number)));
    out['node-net-test'] = Object.fromEntries(
      nodes.flatMap((n, i) => (results[i] === null ? [] : [[n.name as string, results[i] as string]])),
    );
  }
  if (w.instancelist) out.instancelist = cfg.instanceList();
  if (w.version) out.version = [PROTOCOL_VERSION, BERTH_VERSION];
  if (w['user-scripts'] !== undefined) {
    const paths = list(w['user-scripts'], 'user-scripts').map((p) => allowedReadPath(cfg, p, 'user-scripts'));
    out['user-scripts'] = Object.fromEntries(
      paths.flatMap((p) => {
        const why = scriptProblem(p);
        return why === null ? [] : [[p, why]];
      }),
    );
  }
  return out;
}
