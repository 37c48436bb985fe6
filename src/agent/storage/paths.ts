// Confines every host path a storage call touches to the configured roots: a path must be
// absolute, already normalised (no "..", no "//"), and its real location (symlinks resolved on
// the part that exists) must lie inside one of the roots.
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, normalize, sep } from 'node:path';
import { XenApiError } from '../../shared/errors.js';

const within = (path: string, root: string) =>
  path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);

/** The nearest existing ancestor's real path plus the part that does not exist yet. */
function realish(path: string): string {
  let head = path;
  const tail: string[] = [];
  while (!existsSync(head)) {
    const up = dirname(head);
    if (up === head) break;
    tail.unshift(head.slice(up.length + (up.endsWith(sep) ? 0 : 1)));
    head = up;
  }
  const real = realpathSync(head);
  return tail.length ? [real.replace(/\/$/, ''), ...tail].join(sep) : real;
}

/** Pure part of the check, for tests: is the (normalised, absolute) path under a root? */
export function isUnderRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((r) => within(path, normalize(r).replace(/\/$/, '') || '/'));
}

/** Returns `path` if it is allowed; otherwise INVALID_VALUE naming the key it came from. */
export function confine(key: string, path: string | undefined, roots: readonly string[]): string {
  if (!path) throw new XenApiError('INVALID_VALUE', [key, '', 'a path is required']);
  const clean = path.length > 1 ? path.replace(/\/+$/, '') : path;
  if (!isAbsolute(clean) || normalize(clean) !== clean)
    throw new XenApiError('INVALID_VALUE', [key, path, 'must be an absolute, normalised path']);
  if (!isUnderRoots(clean, roots))
    throw new XenApiError('INVALID_VALUE', [
      key,
      path,
      `outside the allowed storage roots (${roots.join(', ')})`,
    ]);
  const real = realish(clean);
  const realRoots = roots.map((r) => (existsSync(r) ? realpathSync(r) : normalize(r)));
  if (!isUnderRoots(real, realRoots))
    throw new XenApiError('INVALID_VALUE', [key, path, 'resolves outside the allowed storage roots']);
  return clean;
}

/** Block devices for LVM SRs: only /dev/<name> paths that exist as block devices. */
export function confineDevice(key: string, dev: string): string {
  if (!/^\/dev\/[A-Za-z0-9._/-]+$/.test(dev) || dev.includes('..'))
    throw new XenApiError('INVALID_VALUE', [key, dev, 'must be a /dev path']);
  return dev;
}
