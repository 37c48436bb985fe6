// Temporary directories for tests, removed when the test ends. Before removal, any QEMU whose pid
// file lies in the directory is SIGKILLed: after-hooks run in registration order, so a test that
// fails with a VM running must not lose the pid files before its own cleanup could read them.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** SIGKILLs every qemu-system process with a `qemu.pid` file up to three levels below `dir`. */
export function killQemusBelow(dir: string, depth = 3): void {
  if (depth < 0 || !existsSync(dir)) return;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) killQemusBelow(p, depth - 1);
    else if (e.name === 'qemu.pid') {
      try {
        const pid = Number(readFileSync(p, 'utf8').trim());
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu-system'))
          process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

export function tempDir(t: TestContext, prefix = 'berth-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    killQemusBelow(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
