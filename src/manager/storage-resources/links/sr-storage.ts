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

/**
 * `/a/b/c` → [`/a/b/c`, `/a/b`, `/a`, `/`]: the directories that can be mount points holding it
 * (a relative path: none).
 */
export function pathAndParents(path: string): string[] {
  if (!path.startsWith('/')) return [];
  const out = [normalisePath(path)];
  while (out[out.length - 1] !== '/') out.push(posix.dirname(out[out.length - 1]));
  return out;
}

/** Mounts by normalised mount point (several records when several roots report one mount point). */
export function mountIndex<T extends { mountPoint: string }>(mounts: readonly T[]): Map<string, T[]> {
  const index = new Map<string, T[]>();
  for (const m of mounts) {
    if (!m.mountPoint.startsWith('/')) continue;
    const key = normalisePath(m.mountPoint);
    index.set(key, [...(index.get(key) ?? []), m]);
  }
  return index;
}

/** The mounts holding `path`: those at the longest mount point containing it, path-wise; none when none does. */
export function mountsHolding<T>(path: string, index: ReadonlyMap<string, T[]>): T[] {
  for (const dir of pathAndParents(path)) {
    const hit = index.get(dir);
    if (hit) return hit;
  }
  return [];
}
