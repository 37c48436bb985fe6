// Persistent dirty bitmaps of halted qcow2 images on this host: listed with the pure reader
// (src/shared/cbt/qcow2-bitmaps.ts), changed with `qemu-img bitmap` (argument arrays only). No
// SR or driver knowledge here: the CBT procedures (cbt.ts) and the file SR's GC (file-sr.ts) use it.
import { open } from 'node:fs/promises';
import { CBT_BLOCK, cbtGeneration } from '../../shared/cbt/changed-blocks.js';
import { listQcow2Bitmaps, type ReadAt } from '../../shared/cbt/qcow2-bitmaps.js';
import { runChecked } from '../../shared/exec.js';
import type { CbtBitmapInfo } from '../../shared/host/cbt.js';
import type { Journal } from '../../shared/journal.js';
import { asBackendFailure } from './failure.js';

export async function withReader<T>(path: string, fn: (read: ReadAt) => Promise<T>): Promise<T> {
  const fh = await open(path, 'r');
  try {
    return await fn(async (offset, length) => {
      const b = Buffer.alloc(length);
      const { bytesRead } = await fh.read(b, 0, length, offset);
      return b.subarray(0, bytesRead);
    });
  } finally {
    await fh.close();
  }
}

/** The bitmaps of an image (pure reader; refused as SR_BACKEND_FAILURE when unreadable). */
export async function imageBitmaps(path: string): Promise<CbtBitmapInfo[]> {
  const meta = await asBackendFailure('VDIUnavailable', () => withReader(path, listQcow2Bitmaps));
  return meta.bitmaps.map((b) => {
    const gen = cbtGeneration(b.name);
    return {
      name: b.name,
      ...(gen === undefined ? {} : { generation: gen }),
      enabled: b.auto,
      inUse: b.inUse,
      granularity: b.granularity,
    };
  });
}

/** `qemu-img bitmap OPS… FILE BITMAP` on a halted image. */
export const qemuBitmap = (path: string, name: string, ops: string[]) =>
  asBackendFailure('qemu-img', () =>
    runChecked('qemu-img', ['bitmap', '-f', 'qcow2', ...ops, path, name]),
  ).then(() => undefined);

/**
 * `from` as qemu-img's source without image locking: the frozen base of a live snapshot stays
 * open read-write in its QEMU (its read-only reopen fails by design, file-live-snapshot.ts), but
 * nothing writes it any more and QEMU stored its bitmaps in it at the snapshot.
 */
const unlockedSource = (from: string) =>
  `json:${JSON.stringify({ driver: 'qcow2', file: { driver: 'file', filename: from, locking: 'off' } })}`;

/**
 * Copies bitmap `name` of `from` into `path` as a new bitmap (enabled or frozen); `shared`: read
 * `from` although a QEMU holds it (a live snapshot's base).
 */
export const copyBitmap = (from: string, path: string, name: string, enabled: boolean, shared = false) =>
  qemuBitmap(path, name, [
    '--add',
    '-g',
    String(CBT_BLOCK),
    '--merge',
    name,
    '-b',
    ...(shared ? [unlockedSource(from)] : [from, '-F', 'qcow2']),
    ...(enabled ? [] : ['--disable']),
  ]);

/**
 * Runs `rewrite` (a rebase that copies a base's clusters into `path`) with the image's enabled
 * bitmaps disabled, so that copying is not taken for guest writes, then enables them again. The
 * names are journalled first: after a crash, resumeBitmaps() re-enables them (a bitmap left
 * disabled would silently miss later writes, the one failure CBT must never have).
 */
export async function withBitmapsPaused<T>(
  journal: Journal,
  path: string,
  rewrite: () => Promise<T>,
): Promise<T> {
  // Inconsistent ones (a crashed QEMU's) record nothing any more and cannot be toggled.
  const names = (await imageBitmaps(path)).filter((b) => b.enabled && !b.inUse).map((b) => b.name);
  if (!names.length) return rewrite();
  const intent = journal.begin('bitmaps-paused', { path, names });
  try {
    for (const n of names) await qemuBitmap(path, n, ['--disable']);
    return await rewrite();
  } finally {
    await resumeBitmaps(intent);
    journal.end(intent);
  }
}

/** Enables again the bitmaps a `bitmaps-paused` intent names (those still in the image). */
export async function resumeBitmaps(intent: Record<string, unknown>): Promise<string[]> {
  const path = String(intent.path);
  const names = Array.isArray(intent.names) ? intent.names.map(String) : [];
  let present: CbtBitmapInfo[];
  try {
    present = await imageBitmaps(path);
  } catch {
    return []; // the image is gone (deleted meanwhile)
  }
  const done: string[] = [];
  for (const b of present)
    if (names.includes(b.name) && !b.enabled) {
      await qemuBitmap(path, b.name, ['--enable']);
      done.push(`re-enabled bitmap ${b.name} of ${path}`);
    }
  return done;
}
