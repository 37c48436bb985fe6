// Durable, atomic file replacement without blocking the event loop (agent and manager RRD
// archives): a temp file beside the target, written and fsynced, renamed over it, then the folder
// fsynced so the rename itself survives a power cut. A crash at any moment leaves the old file or
// the new one, never a torn one; a failed write removes its temp file.
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Marks the temp files of writeAtomic (`<path>.tmp-<pid>-<hex>`): a crash may leave one. */
export const ATOMIC_TMP_MARK = '.tmp-';

/** Writes `data` to `path` atomically and durably (see the file's comment). */
export async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}${ATOMIC_TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  const d = await open(dirname(path), 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
