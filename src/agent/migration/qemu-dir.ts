// The VM's migration dir, `<runtime dir>/migration`: the one place under the agent's run root a
// QEMU that dropped its privileges (-runas) opens files in by name during a migration (its TLS
// credentials, the Unix socket it listens on). Owned by the VM's QEMU user, 0700; for it to be
// reachable the VM's runtime dir becomes root:<QEMU gid> 0710 for the migration's time, and the
// run root gains the search bit QEMU's user lacks (qemu/dac.ts planAccess: g+x when the group
// is QEMU's, else o+x; search only, never read). Released at the end of the migration.
import { chmodSync, chownSync, existsSync, mkdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Owner } from '../qemu/dac.js';
import { planAccess } from '../qemu/dac.js';

export const migrationDir = (vmDir: string) => join(vmDir, 'migration');

/** Creates the VM's migration dir for QEMU's user `who` (root when undefined) and returns it. */
export function prepareMigrationDir(vmDir: string, who: Owner | undefined): string {
  const dir = migrationDir(vmDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  if (!who || who.uid === 0) return dir;
  chownSync(dir, who.uid, who.gid);
  chownSync(vmDir, 0, who.gid);
  chmodSync(vmDir, 0o710);
  const runRoot = realpathSync(dirname(vmDir));
  const plan = planAccess(undefined, [], who, statSync, [runRoot], [join(realpathSync(dir), 'x')]);
  if (plan.blocked.length)
    throw new Error(
      `QEMU's user (uid ${who.uid}) cannot reach ${dir}: ${plan.blocked.join(', ')} not searchable; ` +
        `make the run root's parents searchable (e.g. 0711)`,
    );
  for (const c of plan.changes) if (c.op === 'chmod') chmodSync(c.path, c.mode);
  return dir;
}

/** Removes the migration dir (credentials, socket); the runtime dir is root's 0700 again. */
export function releaseMigrationDir(vmDir: string): void {
  rmSync(migrationDir(vmDir), { recursive: true, force: true });
  if (!existsSync(vmDir) || (statSync(vmDir).mode & 0o777) === 0o700) return;
  chownSync(vmDir, 0, 0);
  chmodSync(vmDir, 0o700);
}
