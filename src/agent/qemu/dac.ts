// File access for an unprivileged QEMU (-runas): files it opens after dropping privileges
// (hot-plugged disks and their backing chains, CD media) are labelled for its user first, as
// libvirt's DAC driver does: the image QEMU writes is owned by the QEMU user, the images it only
// reads get the QEMU user's group with group read, and directories on the way that the user could
// not traverse gain o+x (search only, never listing). Nothing is taken away. Files opened at start
// need none of this: QEMU opens them as root before the drop.
import { chmodSync, chownSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { runChecked } from '../../shared/exec.js';

export interface Owner {
  uid: number;
  gid: number;
}

export interface FileState {
  mode: number;
  uid: number;
  gid: number;
}

export type Change =
  | { op: 'chown'; path: string; uid: number; gid: number }
  | { op: 'chmod'; path: string; mode: number };

/** Can `who` search (x) or read-write a file in `st` by its mode bits (pure)? */
function allowed(st: FileState, who: Owner, bits: { u: number; g: number; o: number }): boolean {
  if (who.uid === 0) return true;
  if (st.uid === who.uid) return (st.mode & bits.u) === bits.u;
  if (st.gid === who.gid) return (st.mode & bits.g) === bits.g;
  return (st.mode & bits.o) === bits.o;
}

const ancestors = (path: string): string[] => {
  const out: string[] = [];
  for (let d = dirname(path); d !== '/' && !out.includes(d); d = dirname(d)) out.push(d);
  return out;
};

/**
 * The changes that let `who` write `write` (when given) and read every file of `read` (pure over
 * `stat`); all paths absolute.
 */
export function planAccess(
  write: string | undefined,
  read: readonly string[],
  who: Owner,
  stat: (p: string) => FileState,
): Change[] {
  const out: Change[] = [];
  const seen = new Set<string>();
  const reach = (file: string) => {
    for (const dir of ancestors(file)) {
      if (seen.has(dir)) continue;
      seen.add(dir);
      const d = stat(dir);
      if (!allowed(d, who, { u: 0o100, g: 0o010, o: 0o001 }))
        out.push({ op: 'chmod', path: dir, mode: (d.mode & 0o7777) | 0o001 });
    }
  };
  if (write !== undefined) {
    const st = stat(write);
    if (st.uid !== who.uid || st.gid !== who.gid)
      out.push({ op: 'chown', path: write, uid: who.uid, gid: who.gid });
    if ((st.mode & 0o600) !== 0o600) out.push({ op: 'chmod', path: write, mode: (st.mode & 0o7777) | 0o600 });
    reach(write);
  }
  for (const file of read) {
    const st = stat(file);
    if (!allowed(st, who, { u: 0o400, g: 0o040, o: 0o004 })) {
      out.push({ op: 'chown', path: file, uid: st.uid, gid: who.gid });
      out.push({ op: 'chmod', path: file, mode: (st.mode & 0o7777) | 0o040 });
    }
    reach(file);
  }
  return out;
}

function apply(plan: readonly Change[]) {
  for (const c of plan) {
    if (c.op === 'chown') chownSync(c.path, c.uid, c.gid);
    else chmodSync(c.path, c.mode);
  }
}

/** The image and its backing files (absolute paths), from qemu-img. */
export async function backingChain(path: string): Promise<string[]> {
  const r = await runChecked('qemu-img', ['info', '--backing-chain', '-U', '--output=json', path]);
  const infos = JSON.parse(r) as { filename: string }[];
  return infos.map((i) => i.filename).filter((f) => f.startsWith('/'));
}

/**
 * Labels a disk for an unprivileged QEMU user: `path` writable (or readable, for a read-only
 * disk), its backing chain (qcow2) readable.
 */
export async function grantImageAccess(
  path: string,
  format: string,
  readonly: boolean,
  who: Owner,
): Promise<void> {
  const chain = format === 'qcow2' ? await backingChain(path) : [path];
  const [leaf, ...backing] = chain.length ? chain : [path];
  apply(
    readonly
      ? planAccess(undefined, [leaf, ...backing], who, statSync)
      : planAccess(leaf, backing, who, statSync),
  );
}
