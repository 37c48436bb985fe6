// Network namespaces for multi-host tests: a "switch" namespace holding a bridge, and one namespace
// per host joined to it by a veth pair created directly inside the namespaces (the root namespace
// never sees an interface, a route or an address of ours). Names carry the creating process's pid,
// so a later run can remove what a killed run left behind (sweepStale). The `ip` argument lists are
// pure functions; `ip()` is the one place that runs them.
import { runChecked } from '../../src/shared/exec.js';

/** Prefix of every namespace the harness creates: berth-hx-<pid>-<octet>-<tag>. */
export const NS_PREFIX = 'berth-hx-';

export interface NetLayout {
  /** Instance id: `<pid>-<octet>`; part of every name. */
  id: string;
  /** Third octet of the private /24 (10.213.<octet>.0/24). */
  octet: number;
  switchNs: string;
  hostNs: string[];
  /** Host i's address (10.213.<octet>.<i+1>). */
  addresses: string[];
}

/** The names and addresses of an n-host harness instance (pure). */
export function layout(pid: number, octet: number, n: number): NetLayout {
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new Error(`host count must be 1…250, got ${n}`);
  const id = `${pid}-${octet}`;
  return {
    id,
    octet,
    switchNs: `${NS_PREFIX}${id}-sw`,
    hostNs: Array.from({ length: n }, (_, i) => `${NS_PREFIX}${id}-h${i + 1}`),
    addresses: Array.from({ length: n }, (_, i) => `10.213.${octet}.${i + 1}`),
  };
}

/** The `ip` invocations that build the layout, in order (pure). */
export function setupCommands(l: NetLayout): string[][] {
  const cmds: string[][] = [
    ['netns', 'add', l.switchNs],
    ['-n', l.switchNs, 'link', 'set', 'lo', 'up'],
    ['-n', l.switchNs, 'link', 'add', 'br0', 'type', 'bridge'],
    ['-n', l.switchNs, 'link', 'set', 'br0', 'up'],
  ];
  l.hostNs.forEach((ns, i) => {
    const port = `p${i + 1}`;
    cmds.push(
      ['netns', 'add', ns],
      ['-n', ns, 'link', 'set', 'lo', 'up'],
      // Both ends are born inside namespaces: the switch port here, eth0 in the host's.
      ['-n', l.switchNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns],
      ['-n', l.switchNs, 'link', 'set', port, 'master', 'br0'],
      ['-n', l.switchNs, 'link', 'set', port, 'up'],
      ['-n', ns, 'addr', 'add', `${l.addresses[i]}/24`, 'dev', 'eth0'],
      ['-n', ns, 'link', 'set', 'eth0', 'up'],
    );
  });
  return cmds;
}

/**
 * The `ip` invocation that pulls host `index`'s (1-based) cable out of the switch, or plugs it
 * back (pure): its switch port goes down or up. Packets to and from the host are then dropped
 * silently (its eth0 loses carrier but keeps its address and routes), as on a cut link, so TCP
 * connections stall and retransmit rather than fail at once.
 */
export function linkCommand(l: NetLayout, index: number, up: boolean): string[] {
  if (!Number.isInteger(index) || index < 1 || index > l.hostNs.length)
    throw new Error(`host index must be 1…${l.hostNs.length}, got ${index}`);
  return ['-n', l.switchNs, 'link', 'set', `p${index}`, up ? 'up' : 'down'];
}

/** Owner pid and octet of a harness namespace name; undefined for any other name (pure). */
export function parseNsName(name: string): { pid: number; octet: number } | undefined {
  const m = new RegExp(`^${NS_PREFIX}(\\d+)-(\\d+)-(sw|h\\d+)$`).exec(name);
  return m ? { pid: Number(m[1]), octet: Number(m[2]) } : undefined;
}

/** An octet no listed harness namespace uses, starting from `start` (pure). */
export function freeOctet(names: string[], start: number): number {
  const used = new Set(names.map((n) => parseNsName(n)?.octet).filter((o) => o !== undefined));
  for (let k = 0; k < 256; k++) {
    const o = (start + k) % 256;
    if (!used.has(o)) return o;
  }
  throw new Error('every 10.213.X.0/24 is taken by a running harness');
}

export async function ip(args: string[]): Promise<string> {
  return runChecked('ip', args, { timeoutMs: 30_000 });
}

/** Names of all network namespaces. */
export async function listNamespaces(): Promise<string[]> {
  return (await ip(['netns', 'list']))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}

/** Pids of the processes in a namespace (none if it is gone). */
export async function namespacePids(ns: string): Promise<number[]> {
  try {
    return (await ip(['netns', 'pids', ns])).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs every process in the namespace, then deletes it (its veth ends go with it). */
export async function deleteNamespace(ns: string): Promise<void> {
  for (const pid of await namespacePids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await ip(['netns', 'del', ns]).catch(() => undefined);
}

/** Removes the harness namespaces of processes that no longer run (a killed test's leftovers). */
export async function sweepStale(): Promise<void> {
  for (const ns of await listNamespaces()) {
    const owner = parseNsName(ns);
    if (owner && owner.pid !== process.pid && !alive(owner.pid)) await deleteNamespace(ns);
  }
}

/** Creates the switch and host namespaces of `l`; on failure removes what it made. */
export async function createNetwork(l: NetLayout): Promise<void> {
  try {
    for (const cmd of setupCommands(l)) await ip(cmd);
  } catch (e) {
    await deleteNetwork(l);
    throw e;
  }
}

export async function deleteNetwork(l: NetLayout): Promise<void> {
  for (const ns of [...l.hostNs, l.switchNs]) await deleteNamespace(ns);
}
