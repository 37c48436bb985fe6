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
  // A tmpfs of its own (the initramfs root holds half the RAM at most); random data (QEMU sends
  // zero pages as a flag only). urandom runs at ~30 MB/s under TCG here.
  const m = await shell(
    rec,
    tap,
    `mkdir -p /bench && mount -t tmpfs -o size=${fillMiB + 64}m tmpfs /bench && ` +
      `dd if=/dev/urandom of=/bench/fill bs=1M count=${fillMiB} 2>/dev/null; echo FILLED-$(wc -c < /bench/fill)`,
    /FILLED-(\d+)/,
    600_000,
  );
  if (Number(m[1]) !== fillMiB * 1024 * 1024)
    throw new Error(`the guest filled ${m[1]} bytes, not ${fillMiB} MiB`);
  log(`guest filled ${fillMiB} MiB in ${Math.round(performance.now() - t1)} ms`);
  await tap.type(counterLoop(COUNTER_INTERVAL_MS));
  await rec.waitCounting(50, 60_000);
}
