// hyperthreading.py: get_hyperthreading — whether the CPUs run more than one thread per core.
// Upstream asks Xen (`xl info threads_per_core`); a Berth host has no xl, so lscpu answers,
// and xl is used where it exists.
import { command } from '../command.js';
import { OsError } from '../failure.js';
import { definePlugin } from '../types.js';

/** First line of `xl info threads_per_core` -> threads per core. */
export function parseXlThreads(stdout: string): number {
  const n = Number.parseInt(stdout.split('\n')[0].trim(), 10);
  if (Number.isNaN(n)) throw new Error(`Unexpected xl output: ${JSON.stringify(stdout)}`);
  return n;
}

/** `lscpu` -> the "Thread(s) per core" value. */
export function parseLscpuThreads(stdout: string): number {
  const m = /^Thread\(s\) per core:\s*(\d+)\s*$/m.exec(stdout);
  if (!m) throw new Error('lscpu did not report Thread(s) per core');
  return Number(m[1]);
}

export const hyperthreading = definePlugin('hyperthreading', {
  async get_hyperthreading(_args, ctx) {
    let threads: number;
    try {
      threads = parseXlThreads((await command(ctx, ['xl', 'info', 'threads_per_core'])).stdout);
    } catch (e) {
      if (!(e instanceof OsError && e.errno === 2)) throw e;
      threads = parseLscpuThreads((await command(ctx, ['lscpu'])).stdout);
    }
    return JSON.stringify(threads > 1);
  },
});
