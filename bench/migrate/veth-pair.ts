// Two network namespaces joined by one veth pair, for the raw QEMU-to-QEMU peer of bench:migrate:
// bm-<pid>-a (10.214.0.1/30) and bm-<pid>-b (10.214.0.2/30). Both veth ends are created inside
// the namespaces, so the machine's own network configuration is never touched; names carry the
// pid, so a later run removes what a killed run left (sweepStalePairs). The `ip` argument lists
// are pure; `ip()` runs them.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { runChecked } from '../../src/shared/exec.js';

const PREFIX = 'bm-';

export interface VethPair {
  nsA: string;
  nsB: string;
  addrA: string;
  addrB: string;
  /** Starts `cmd` inside namespace `ns` (argument array, no shell). */
  spawn(ns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** SIGKILLs everything left in both namespaces and deletes them (the veth goes with them). */
  destroy(): Promise<void>;
}

/** Names and the `ip` commands of the pair of process `pid` (pure). */
export function pairLayout(pid: number): {
  nsA: string;
  nsB: string;
  addrA: string;
  addrB: string;
  setup: string[][];
} {
  const nsA = `${PREFIX}${pid}-a`;
  const nsB = `${PREFIX}${pid}-b`;
  // Interface names have at most 15 characters; each lives in its own namespace.
  const [ifA, ifB] = [`bma${pid}`.slice(0, 15), `bmb${pid}`.slice(0, 15)];
  const [addrA, addrB] = ['10.214.0.1', '10.214.0.2'];
  return {
    nsA,
    nsB,
    addrA,
    addrB,
    setup: [
      ['netns', 'add', nsA],
      ['netns', 'add', nsB],
      ['-n', nsA, 'link', 'set', 'lo', 'up'],
      ['-n', nsB, 'link', 'set', 'lo', 'up'],
      ['-n', nsA, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB],
      ['-n', nsA, 'addr', 'add', `${addrA}/30`, 'dev', ifA],
      ['-n', nsB, 'addr', 'add', `${addrB}/30`, 'dev', ifB],
      ['-n', nsA, 'link', 'set', ifA, 'up'],
      ['-n', nsB, 'link', 'set', ifB, 'up'],
    ],
  };
}

/** Owner pid of a pair namespace name; undefined for other names (pure). */
export function pairOwner(name: string): number | undefined {
  const m = /^bm-(\d+)-[ab]$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

const ip = (args: string[]) => runChecked('ip', args, { timeoutMs: 30_000 });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function deleteNs(ns: string): Promise<void> {
  const pids = await ip(['netns', 'pids', ns]).catch(() => '');
  for (const pid of pids.split('\n').filter(Boolean))
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  await ip(['netns', 'del', ns]).catch(() => undefined);
}

/** Removes pair namespaces whose process is gone. */
export async function sweepStalePairs(): Promise<void> {
  const names = (await ip(['netns', 'list'])).split('\n').map((l) => l.trim().split(/\s+/)[0]);
  for (const ns of names) {
    const owner = pairOwner(ns ?? '');
    if (owner && owner !== process.pid && !alive(owner)) await deleteNs(ns);
  }
}

export async function createVethPair(): Promise<VethPair> {
  await sweepStalePairs();
  const l = pairLayout(process.pid);
  const destroy = async () => {
    for (const ns of [l.nsA, l.nsB]) await deleteNs(ns);
  };
  try {
    for (const cmd of l.setup) await ip(cmd);
  } catch (e) {
    await destroy();
    throw e;
  }
  return {
    nsA: l.nsA,
    nsB: l.nsB,
    addrA: l.addrA,
    addrB: l.addrB,
    spawn: (ns, cmd, args, opts = {}) => spawn('ip', ['netns', 'exec', ns, cmd, ...args], opts),
    destroy,
  };
}
