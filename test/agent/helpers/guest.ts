// Shared helpers for agent tests: the test guest, a serial console, specs, and a last-resort
// cleanup that kills every QEMU whose pid file lies under a test's runtime root.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstanceSpec } from '../../../src/shared/noded/instance.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const GUEST_DIR = process.env.BERTH_TEST_GUEST_DIR ?? join(ROOT, '.cache/guest');

/** Builds (or reuses) the test guest; returns its kernel and initramfs. */
export function guest(): { kernel: string; initrd: string } {
  const r = spawnSync(join(ROOT, 'tools/build-guest.sh'), [GUEST_DIR], {
    stdio: 'inherit',
    timeout: 300_000,
  });
  if (r.status !== 0) throw new Error('tools/build-guest.sh failed');
  return { kernel: join(GUEST_DIR, 'vmlinuz'), initrd: join(GUEST_DIR, 'initrd.img') };
}

export function spec(uuid: string, over: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    uuid,
    name: `test-${uuid.slice(0, 8)}`,
    vcpus: 1,
    vcpusMax: 1,
    memoryBytes: 256 * 1024 * 1024,
    memoryMaxBytes: 256 * 1024 * 1024,
    disks: [],
    nics: [],
    balloon: false,
    startPaused: false,
    ...over,
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until `re` matches the file's text (from byte `from`); returns the match. */
export async function waitForLog(path: string, re: RegExp, timeoutMs = 60_000, from = 0): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, 'utf8').slice(from) : '';
    const m = re.exec(text);
    if (m) return m[0];
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in ${path}: ${text.slice(-300)}`);
    await sleep(50);
  }
}

export function logSize(path: string): number {
  return existsSync(path) ? readFileSync(path).length : 0;
}

/** Types a line on the guest's serial console (a socket chardev; output goes to the log). */
export function typeLine(serialSocket: string, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = connect(serialSocket, () => {
      c.end(`${line}\n`, () =>
        setTimeout(() => {
          c.destroy();
          resolve();
        }, 100),
      );
    });
    c.on('error', reject);
  });
}

/** SIGKILLs every QEMU with a pid file under `runRoot` (test cleanup: nothing outlives a test). */
export function killQemusUnder(runRoot: string): number {
  let killed = 0;
  if (!existsSync(runRoot)) return 0;
  for (const d of readdirSync(runRoot)) {
    const pidFile = join(runRoot, d, 'qemu.pid');
    if (!existsSync(pidFile)) continue;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu-system')) {
        process.kill(pid, 'SIGKILL');
        killed++;
      }
    } catch {
      /* gone */
    }
  }
  return killed;
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
