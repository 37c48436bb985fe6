// What the benchmark guest does before it migrates, the same for the raw QEMU peer and for Berth:
// fills `fillMiB` of its RAM with non-zero data (a file on its initramfs root, which lives in RAM:
// QEMU skips zero pages, so the data must not be zero), then counts on its serial console.
import {
  type ConsoleRecorder,
  counterLoop,
  type SerialTap,
  shell,
  waitShell,
} from '../../test/helpers/guest-counter.js';

export const COUNTER_INTERVAL_MS = 10;

export async function loadGuest(
  rec: ConsoleRecorder,
  tap: SerialTap,
  fillMiB: number,
  log: (s: string) => void = () => undefined,
): Promise<void> {
  const t0 = performance.now();
  await waitShell(rec, tap);
  log(`guest shell after ${Math.round(performance.now() - t0)} ms`);
  const t1 = performance.now();
  // A tmpfs of its own (the initramfs root holds half the RAM at most), filled with 4 MiB of
  // random data repeated (QEMU sends zero pages as a flag only, and does not deduplicate): copies
  // inside the guest kernel, ~10x faster under TCG than reading urandom for all of it.
  if (fillMiB % 64 !== 0) throw new Error(`fill a multiple of 64 MiB, not ${fillMiB}`);
  const m = await shell(
    rec,
    tap,
    `mkdir -p /bench && mount -t tmpfs -o size=${fillMiB + 96}m tmpfs /bench && cd /bench && ` +
      'dd if=/dev/urandom of=a bs=1M count=4 2>/dev/null && ' +
      'for k in 1 2 3 4; do cat a a > b; mv b a; done && ' +
      `for k in $(seq ${fillMiB / 64}); do cat a; done > fill && rm a && cd / && echo FILLED-$(wc -c < /bench/fill)`,
    /FILLED-(\d+)/,
    600_000,
  );
  if (Number(m[1]) !== fillMiB * 1024 * 1024)
    throw new Error(`the guest filled ${m[1]} bytes, not ${fillMiB} MiB`);
  log(`guest filled ${fillMiB} MiB in ${Math.round(performance.now() - t1)} ms`);
  await tap.type(counterLoop(COUNTER_INTERVAL_MS));
  await rec.waitCounting(50, 60_000);
}
