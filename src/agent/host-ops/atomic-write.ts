// Writes a file by rename from a sibling temp file, so a reader sees the old or the new content,
// never half of it. The parent directory must be its own real path (no symlink to elsewhere).
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface WriteAttrs {
  mode: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  atime?: number;
  mtime?: number;
}

export function writeAtomic(path: string, data: Buffer | string, attrs: WriteAttrs): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  // O_EXCL|O_NOFOLLOW: never through a planted link.
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (attrs.uid !== undefined || attrs.gid !== undefined) fchownSync(fd, attrs.uid ?? -1, attrs.gid ?? -1);
    fchmodSync(fd, attrs.mode);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    if (attrs.atime !== undefined || attrs.mtime !== undefined) {
      const now = Date.now() / 1000;
      utimesSync(tmp, attrs.atime ?? now, attrs.mtime ?? now);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
