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

/** Directories whose removal failed in a hook: removed again when the test process exits. */
const leftovers = new Set<string>();
process.once('exit', () => {
  for (const dir of leftovers) {
    killQemusBelow(dir);
    removeQuietly(dir);
  }
});

function removeQuietly(dir: string): boolean {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
    return true;
  } catch {
    return false;
  }
}

/**
 * A temporary directory for the test. QEMUs below it are killed in the test's after-hooks at the
 * point of registration; the directory itself is removed after every hook registered later (the
 * daemons a test starts in it register their stops after calling this, and a daemon still writing
 * into a removed directory made rmSync throw ENOTEMPTY, which skipped the later hooks and left the
 * daemons running, hanging the test file). A removal that still fails never fails the test: it is
 * retried when the process exits.
 */
export function tempDir(t: TestContext, prefix = 'berth-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    killQemusBelow(dir);
    // Registered now, so it runs after the hooks registered since tempDir (Node runs after-hooks
    // in order, including ones added while they run); the exit handler covers it otherwise.
    leftovers.add(dir);
    // It stays listed: a daemon's last write after this removal (an archive, a journal written
    // at close) would re-create it, and the exit handler removes it again.
    t.after(() => {
      killQemusBelow(dir);
      removeQuietly(dir);
    });
  });
  return dir;
}
