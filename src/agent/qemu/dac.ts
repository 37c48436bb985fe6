// File access for an unprivileged QEMU (-runas), after libvirt's DAC security driver. QEMU opens
// everything named on its command line (disks, CD media, kernel, TAPs, sockets, console log) as
// root and only then drops to its user, so a start needs nothing here. What it opens after the
// drop is labelled for its user first:
//   - a hot-plugged disk: the image QEMU writes (the leaf) is chowned to the QEMU user (the VM's
//     own uid/gid with per-VM identities) and made exactly u+rw (no group/other access meanwhile); read-only images (backing files, read-only disks, CD media) get the QEMU user's group
//     with g+r, owner unchanged;
//   - directories on the way that the user cannot search gain the search bit only (g+x when the
//     directory's group is the QEMU user's group, else o+x; never r, never w), and only
//     directories inside the storage roots the agent knows (--state-root): anything else, from
//     `/` and /tmp to an admin's own directories, is never changed; if one of those blocks the
//     way, the hot-plug fails with a message saying which directory;
//   - the leaf's previous owner and mode are recorded in the VM's runtime dir (`labels.json`)
//     and put back when the disk is unplugged or the QEMU ends (as libvirt's remember_owner).
//     Backing files keep their added group read: they may be shared by other VMs' chains, and
//     libvirt needs ref-counted xattrs to undo that safely.
// Also the agent's own directories QEMU must reach after the drop (the run root, for the suspend
// socket): root:<QEMU group> 0710, searchable by that group and nobody else.
import {
  chmodSync,
  chownSync,
  existsSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { logger } from '../../shared/log.js';
import { runChecked } from '../../shared/exec.js';

const log = logger('dac');

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

export interface Plan {
  changes: Change[];
  /** Directories the user cannot search that lie outside the roots (left alone). */
  blocked: string[];
}

/** Can `who` use a file in `st` for `bits` (user/group/other masks), by its mode bits (pure)? */
function allowed(st: FileState, who: Owner, bits: { u: number; g: number; o: number }): boolean {
  if (who.uid === 0) return true;
  if (st.uid === who.uid) return (st.mode & bits.u) === bits.u;
  if (st.gid === who.gid) return (st.mode & bits.g) === bits.g;
  return (st.mode & bits.o) === bits.o;
}

const SEARCH = { u: 0o100, g: 0o010, o: 0o001 };
const READ = { u: 0o400, g: 0o040, o: 0o004 };

/** Directories from `path`'s parent up to, not including, `/` (pure). */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let d = dirname(path); d !== '/' && d !== '.' && !out.includes(d); d = dirname(d)) out.push(d);
  return out;
}

/** Is `path` one of `roots` or below one (pure; all absolute and normalised)? */
export function insideRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => {
    const root = normalize(r).replace(/\/+$/, '');
    // `/` as a root would open every directory: never.
    return root !== '' && (path === root || path.startsWith(`${root}/`));
  });
}

/**
 * The changes that let `who` write `write` (when given) and read every file of `read` (pure over
 * `stat`); all paths absolute, real (no symlinks). `via`: other names of these files (symlinks
 * QEMU is given) whose directories must be searchable too. Directories are only changed inside
 * `roots`.
 */
export function planAccess(
  write: string | undefined,
  read: readonly string[],
  who: Owner,
  stat: (p: string) => FileState,
  roots: readonly string[],
  via: readonly string[] = [],
): Plan {
  const changes: Change[] = [];
  const blocked: string[] = [];
  const seen = new Set<string>();
  const reach = (file: string) => {
    for (const dir of ancestors(file)) {
      if (seen.has(dir)) continue;
      seen.add(dir);
      const d = stat(dir);
      if (allowed(d, who, SEARCH)) continue;
      if (!insideRoots(dir, roots)) blocked.push(dir);
      else
        changes.push({
          op: 'chmod',
          path: dir,
          mode: (d.mode & 0o7777) | (d.gid === who.gid ? 0o010 : 0o001),
        });
    }
  };
  if (write !== undefined) {
    const st = stat(write);
    if (st.uid !== who.uid || st.gid !== who.gid)
      changes.push({ op: 'chown', path: write, uid: who.uid, gid: who.gid });
    // Exactly u+rw for the one VM that writes it while labelled: with per-VM identities another
    // VM's QEMU must not read it through group or other bits (the old mode comes back later).
    if (who.uid !== 0 && (st.mode & 0o677) !== 0o600)
      changes.push({ op: 'chmod', path: write, mode: (st.mode & 0o7100) | 0o600 });
    reach(write);
  }
  for (const file of read) {
    if (file === write) continue;
    const st = stat(file);
    if (!allowed(st, who, READ)) {
      if (st.gid !== who.gid) changes.push({ op: 'chown', path: file, uid: st.uid, gid: who.gid });
      changes.push({ op: 'chmod', path: file, mode: (st.mode & 0o7777) | 0o040 });
    }
    reach(file);
  }
  for (const name of via) reach(name);
  return { changes, blocked };
}

/** A file's owner and mode before it was given to the QEMU user `as`. */
export interface Label extends FileState {
  path: string;
  as: Owner;
}

/**
 * Puts a labelled file back (pure): only while it still belongs to the QEMU user as labelled,
 * so a change somebody made meanwhile is kept.
 */
export function planRestore(label: Label, now: FileState): Change[] {
  if (now.uid !== label.as.uid || now.gid !== label.as.gid) return [];
  const out: Change[] = [{ op: 'chown', path: label.path, uid: label.uid, gid: label.gid }];
  if ((now.mode & 0o7777) !== (label.mode & 0o7777))
    out.push({ op: 'chmod', path: label.path, mode: label.mode & 0o7777 });
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
 * Labels a disk for an unprivileged QEMU user before QEMU opens it: `path` writable (readable
 * only, for a read-only disk or CD medium), its qcow2 backing chain readable, the directories
 * on the way searchable (inside `roots` only). Returns the leaf's previous label when it was
 * changed (to restore later); throws, changing nothing, if a directory outside `roots` blocks
 * the way.
 */
export async function grantImageAccess(
  path: string,
  format: string,
  readonly: boolean,
  who: Owner,
  roots: readonly string[],
): Promise<Label | undefined> {
  const chain = format === 'qcow2' ? await backingChain(path) : [path];
  const [leaf, ...backing] = (chain.length ? chain : [path]).map((p) => realpathSync(p));
  const allRoots = [...roots, ...roots.filter((r) => existsSync(r)).map((r) => realpathSync(r))];
  // The name QEMU is given may be a symlink: its own directories must be searchable too.
  const via = path === leaf ? [] : [path];
  const plan = readonly
    ? planAccess(undefined, [leaf, ...backing], who, statSync, allRoots, via)
    : planAccess(leaf, backing, who, statSync, allRoots, via);
  if (plan.blocked.length)
    throw new Error(
      `QEMU's user (uid ${who.uid}) cannot reach ${path}: ${plan.blocked.join(', ')} not searchable ` +
        `and outside the storage roots (${roots.join(', ')}), so left alone; make ${plan.blocked.length > 1 ? 'them' : 'it'} ` +
        `searchable for gid ${who.gid} (e.g. root:<group> 0710)`,
    );
  const before = statSync(leaf);
  apply(plan.changes);
  if (readonly || !plan.changes.some((c) => c.path === leaf)) return undefined;
  log.debug('labelled for QEMU', { path: leaf, uid: who.uid });
  return { path: leaf, mode: before.mode & 0o7777, uid: before.uid, gid: before.gid, as: who };
}

// Labels to restore, per VM, in its runtime dir: { device: Label }.
const labelsFile = (runDir: string) => join(runDir, 'labels.json');

function readLabels(runDir: string): Record<string, Label> {
  try {
    return JSON.parse(readFileSync(labelsFile(runDir), 'utf8')) as Record<string, Label>;
  } catch {
    return {};
  }
}

function writeLabels(runDir: string, labels: Record<string, Label>) {
  const file = labelsFile(runDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(labels), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Records that `device`'s image was labelled (before QEMU opens it: a crash still restores). */
export function rememberLabel(runDir: string, device: string, label: Label): void {
  writeLabels(runDir, { ...readLabels(runDir), [device]: label });
}

function restore(label: Label) {
  try {
    apply(planRestore(label, statSync(label.path)));
  } catch (e) {
    // The file may be gone (VDI destroyed): nothing to give back.
    log.warn('could not restore the owner of a disk image', { path: label.path, error: String(e) });
  }
}

/** Gives `device`'s image back its previous owner and mode (disk unplugged). */
export function restoreLabel(runDir: string, device: string): void {
  const labels = readLabels(runDir);
  const label = labels[device];
  if (!label) return;
  restore(label);
  delete labels[device];
  writeLabels(runDir, labels);
}

/** Restores every label of a VM whose QEMU ended (before its runtime dir goes). */
export function restoreAllLabels(runDir: string): void {
  for (const label of Object.values(readLabels(runDir))) restore(label);
}

/**
 * After a live snapshot moved `device` onto a new overlay at the same name (labelled `given`
 * for QEMU): the frozen image (`frozen`, the old leaf under its base name) gets its previous
 * owner back if it had been labelled (QEMU keeps its open descriptor), and the overlay's label
 * is what is restored when QEMU ends.
 */
export function relabelAfterSnapshot(
  runDir: string,
  device: string,
  frozen: string,
  given: Label | undefined,
): void {
  const old = readLabels(runDir)[device];
  if (old) restore({ ...old, path: frozen });
  else if (given) rememberLabel(runDir, device, given);
}

/**
 * After a disk mirror moved `device` onto another image whose label was recorded under `staged`
 * (before QEMU opened it): the old image gets its previous owner back (QEMU closed it at the
 * pivot), and the new image's label is what is restored when QEMU ends or the disk is unplugged.
 */
export function relabelAfterMirror(runDir: string, device: string, staged: string): void {
  const labels = readLabels(runDir);
  const old = labels[device];
  if (old) restore(old);
  delete labels[device];
  if (labels[staged]) labels[device] = labels[staged];
  delete labels[staged];
  writeLabels(runDir, labels);
}
