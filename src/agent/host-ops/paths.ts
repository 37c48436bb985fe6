// Path confinement for the host operations: a caller's path must be absolute and already normal
// (no `..`, `.`, `//`, trailing `/`), and what it resolves to through symlinks must stay inside an
// allowed root or be an allowed file itself.
import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';

/** The path as given, if absolute, normal and free of NUL/newlines; else null. */
export function normalPath(p: unknown): string | null {
  if (typeof p !== 'string' || p.length === 0 || p.length > 4096) return null;
  if (/[\0\n\r]/.test(p) || !isAbsolute(p)) return null;
  if (normalize(p) !== p || (p.length > 1 && p.endsWith(sep))) return null;
  return p;
}

/** `p` equals `root` or lies below it (both normal absolute paths). */
export function within(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * The real path of `p`: symlinks resolved; for a missing file, its parent's real path plus its
 * name (null when the parent is missing too).
 */
export function realPath(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    try {
      return join(realpathSync(dirname(p)), basename(p));
    } catch {
      return null;
    }
  }
}

/** Real paths of roots (a root that does not exist yet stays as given). */
const realRoot = (r: string) => realPath(r) ?? r;

/**
 * Whether a normal path may be read: it, and what it resolves to, lie under one of `roots` or
 * are one of `files` exactly.
 */
export function readable(p: string, roots: readonly string[], files: readonly string[]): boolean {
  const real = realPath(p);
  if (real === null) return false;
  if (files.includes(p) && (real === p || files.map(realRoot).includes(real))) return true;
  return roots.some((r) => within(r, p) && within(realRoot(r), real));
}
