// Small process helpers for QEMU processes the agent did not necessarily start itself.
import { readFileSync, readlinkSync } from 'node:fs';

export function readPid(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Is this argv a QEMU started for VM `uuid`? (pure) */
export function isQemuFor(argv: string[], uuid: string): boolean {
  const i = argv.indexOf('-uuid');
  return /qemu-system/.test(argv[0] ?? '') && i > 0 && argv[i + 1] === uuid;
}

/** Is `pid` the QEMU of this VM? Guards against a pid recycled after QEMU died. */
export function isOurQemu(pid: number, uuid: string): boolean {
  try {
    return isQemuFor(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'), uuid);
  } catch {
    return false;
  }
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `pid` is gone; false after `ms`. */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** uid and gid of a local user from /etc/passwd (system users; no NSS needed). */
export function lookupUser(name: string, passwd = '/etc/passwd'): { uid: number; gid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  if (/^\d+:\d+$/.test(name)) {
    const [uid, gid] = name.split(':').map(Number);
    return { uid, gid };
  }
  return undefined;
}

/**
 * The user QEMU drops to: an explicit name ("root": none), else `berth-qemu` where that user
 * exists (the agent's --run-as / BERTH_QEMU_USER; the manager's TAP ownership follows the same rule).
 */
export function qemuRunAs(explicit: string | undefined): string | undefined {
  if (explicit) return explicit === 'root' ? undefined : explicit;
  return lookupUser('berth-qemu') ? 'berth-qemu' : undefined;
}

/** Does `pid` live in a mount namespace other than the agent's (a VM with a private /dev)? */
export function inOwnMountNs(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`) !== readlinkSync('/proc/self/ns/mnt');
  } catch {
    return false;
  }
}
