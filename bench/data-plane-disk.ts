// The disk content the data-plane benches move: `data` bytes of random data spread over a raw file
// of `size` bytes in 256 MiB runs, zeros (holes) between them — so both Berth and its peer meet
// data and holes across the whole disk, not only at its start.
import { runChecked } from '../src/shared/exec.js';

const RUN = 256 * 1024 * 1024;

/** Writes the raw file `path` (truncate + dd from /dev/urandom). */
export async function spreadRandomRaw(path: string, size: number, data: number): Promise<void> {
  await runChecked('truncate', ['-s', String(size), path]);
  const runs = data / RUN;
  for (let i = 0; i < runs; i++)
    await runChecked('dd', [
      'if=/dev/urandom',
      `of=${path}`,
      'bs=1M',
      'count=256',
      `seek=${Math.floor((i * size) / runs / (1024 * 1024))}`,
      'conv=notrunc',
      'status=none',
    ]);
}
