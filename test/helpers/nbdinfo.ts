// Independent readers of a qcow2's dirty bitmaps: qemu-nbd exports the image with the bitmap and
// libnbd's nbdinfo maps it (neither tool is Berth's code).
import { runChecked } from '../../src/shared/exec.js';

/** The dirty extents ([offset, length]) of persistent bitmap `bitmap` in qcow2 image `path`. */
export async function nbdinfoDirtyExtents(path: string, bitmap: string): Promise<[number, number][]> {
  const out = await runChecked('nbdinfo', [
    '--json',
    `--map=qemu:dirty-bitmap:${bitmap}`,
    '--',
    '[',
    'qemu-nbd',
    '-r',
    '-f',
    'qcow2',
    '-B',
    bitmap,
    path,
    ']',
  ]);
  const map = JSON.parse(out) as { offset: number; length: number; type: number }[];
  return map.filter((e) => e.type === 1).map((e) => [e.offset, e.length]);
}
