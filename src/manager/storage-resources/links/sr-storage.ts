// What an SR sits on, on one host, from its type, uuid and that host's PBD device_config (pure):
// an LVM SR on its volume group, a directory SR (file, iso) on the filesystem holding its directory,
// the mount found path-wise, longest mount point first. Network SRs (nfs) and unknown types sit on
// nothing a host reports: their storage is elsewhere.
import { isAbsolute, posix } from 'node:path';

export type SrStorage =
  | { kind: 'volume-group'; vgName: string }
  | { kind: 'directory'; path: string }
  | { kind: 'none' };

/** The VG of an LVM SR: xapi's name, as src/agent/storage/lvm-sr.ts makes it. */
export const srVgName = (srUuid: string) => `VG_XenStorage-${srUuid}`;

/** LVM SR types: Berth's `lvm`, and xapi's lvmoiscsi/lvmohba should they be introduced. */
const isLvmType = (type: string) => type === 'lvm' || type.startsWith('lvmo');

/** Directory SR types and the device_config keys naming their directory (file-sr.ts, iso-sr.ts). */
const DIRECTORY_KEYS: Readonly<Record<string, readonly string[]>> = {
  file: ['location', 'path'],
  iso: ['location'],
};

export function srStorage(type: string, srUuid: string, deviceConfig: Record<string, string>): SrStorage {
  if (isLvmType(type)) return { kind: 'volume-group', vgName: srVgName(srUuid) };
  const keys = Object.hasOwn(DIRECTORY_KEYS, type) ? DIRECTORY_KEYS[type] : undefined;
  if (!keys) return { kind: 'none' };
  const dir = keys.map((k) => deviceConfig[k]).find((v) => typeof v === 'string' && v !== '');
  // A relative or missing path names no place on the host (the agent refuses such an SR too).
  if (!dir || !isAbsolute(dir)) return { kind: 'none' };
  return { kind: 'directory', path: normalisePath(dir) };
}

/** `/a//b/../c/` → `/a/c` (lexical: symlinks on the host are not the manager's to resolve). */
export function normalisePath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Is `path` the directory `dir` or below it, component-wise (`/srv/a` is not within `/srv/ab`)? */
export function isPathWithin(path: string, dir: string): boolean {
  const p = normalisePath(path);
  const d = normalisePath(dir);
  if (d === '/') return p.startsWith('/');
  return p === d || p.startsWith(`${d}/`);
}

/**
 * The mounts holding `path`: those with the longest mount point containing it (several when more
 * than one root reports that mount point), none when no mount point contains it.
 */
export function mountsHolding<T extends { mountPoint: string }>(path: string, mounts: readonly T[]): T[] {
  const holding = mounts.filter((m) => m.mountPoint.startsWith('/') && isPathWithin(path, m.mountPoint));
  if (holding.length === 0) return [];
  const depth = (m: T) => normalisePath(m.mountPoint).length;
  const longest = Math.max(...holding.map(depth));
  return holding.filter((m) => depth(m) === longest);
}
