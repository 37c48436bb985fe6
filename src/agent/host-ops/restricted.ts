// restricted_command: Ganeti's RunRestrictedCmd (ganeti-noded.md §6). Only a file listed in the
// restricted commands directory runs, with no arguments and an empty environment; the directory
// and the file must be root's (uid 0, gid 0), with no mode bits beyond 0755, the file executable.
// Checks and start happen under one lock (8 s wait); any refusal logs its real reason, keeps the
// lock for the fail delay (Ganeti's 10 s, against probing) and answers only "Executing command
// '<name>' failed".
import { constants, accessSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { logger } from '../../shared/log.js';
import { runConfined } from './confined-run.js';
import { failed, sleep } from './failures.js';
import { TimedLock } from './lock.js';
import type { HostOpsConfig } from './options.js';

const log = logger('restricted-command');

export const RESTRICTED_NAME = /^[-_a-zA-Z0-9]+$/;
const LOCK_WAIT_MS = 8_000;
const MAX_OUTPUT = 1024 * 1024;

/** Why `path` is not a root-owned directory/file with at most 0755, or null if it is. */
export function ownershipProblem(path: string, kind: 'directory' | 'file'): string | null {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    return `cannot stat ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
  }
  if (st.uid !== 0 || st.gid !== 0) return `${path} is owned by ${st.uid}:${st.gid}, not 0:0`;
  if ((st.mode & 0o7777 & ~0o755) !== 0)
    return `${path} has mode ${(st.mode & 0o7777).toString(8)}, beyond 755`;
  if (kind === 'directory' && !st.isDirectory()) return `${path} is not a directory`;
  if (kind === 'file' && !st.isFile()) return `${path} is not a regular file`;
  return null;
}

/** Why `name` may not run, or null. */
export function restrictedCommandProblem(dir: string, name: unknown): string | null {
  if (typeof name !== 'string' || name.trim() === '') return 'blank command name';
  if (basename(name) !== name || !RESTRICTED_NAME.test(name))
    return `invalid command name ${JSON.stringify(name).slice(0, 80)}`;
  const dirProblem = ownershipProblem(dir, 'directory');
  if (dirProblem) return dirProblem;
  const file = join(dir, name);
  const fileProblem = ownershipProblem(file, 'file');
  if (fileProblem) return fileProblem;
  try {
    accessSync(file, constants.X_OK);
  } catch {
    return `${file} is not executable`;
  }
  return null;
}

export class RestrictedCommands {
  private readonly lock = new TimedLock();

  constructor(private readonly cfg: HostOpsConfig) {}

  async run(name: unknown): Promise<string> {
    const shown = typeof name === 'string' ? name.slice(0, 80) : String(name).slice(0, 80);
    const generic = () => failed('restricted_command', `Executing command '${shown}' failed`);
    const started = await this.lock.with(LOCK_WAIT_MS, generic, async () => {
      const problem = restrictedCommandProblem(this.cfg.restrictedCommandsDir, name);
      if (problem) {
        log.warn('restricted command refused', { reason: problem });
        await sleep(this.cfg.restrictedCommandFailDelayMs);
        throw generic();
      }
      // Started under the lock; the lock is released as soon as it runs (Ganeti: after fork).
      const child = runConfined(join(this.cfg.restrictedCommandsDir, name as string), [], {
        env: {},
        timeoutMs: this.cfg.restrictedCommandTimeoutMs,
        maxOutputBytes: MAX_OUTPUT,
      }).catch((e: unknown) => {
        log.warn('restricted command did not start', { name: shown, error: String(e) });
        return null;
      });
      return { child };
    });
    const r = await started.child;
    if (r === null) throw generic();
    const output = r.output;
    if (r.code === 0 && !r.timedOut) return output;
    const reason = r.timedOut
      ? `timed out after ${this.cfg.restrictedCommandTimeoutMs / 1000} s`
      : r.signal
        ? `killed by signal ${r.signal}`
        : `exited with status ${r.code}`;
    throw failed('restricted_command', `Restricted command '${shown}' failed: ${reason}; output: ${output}`);
  }
}
