// Helpers for storage tests: temp SR roots, guest-visible data written and read with qemu-io.
import { run, runChecked } from '../../../src/shared/exec.js';

/** Writes `len` bytes of `pattern` at `offset` as a guest would see them. */
export async function writePattern(
  path: string,
  format: string,
  pattern: number,
  offset: number,
  len: number,
) {
  await runChecked('qemu-io', ['-f', format, '-c', `write -P ${pattern} ${offset} ${len}`, path]);
}

/** True when the guest-visible bytes at [offset, offset+len) all equal `pattern`. */
export async function hasPattern(path: string, format: string, pattern: number, offset: number, len: number) {
  const r = await run('qemu-io', [
    '-r',
    '-U',
    '-f',
    format,
    '-c',
    `read -P ${pattern} ${offset} ${len}`,
    path,
  ]);
  return r.code === 0 && !/Pattern verification failed/.test(r.stdout + r.stderr);
}
