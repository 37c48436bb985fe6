// hooks_runner and hooks_list (src/shared/host/hooks.ts) over the agent's allow-listed hooks
// directory, with Ganeti's rules (ganeti-noded.md §9): `<dir>/<hpath>-<phase>.d/*` in sorted
// order, names ^[a-zA-Z0-9_-]+$ and executable regular files only (the rest skipped), a missing
// directory → no hooks. Every script runs under a time limit with only the given BERTH_* env and a
// fixed PATH.
import { constants, accessSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  HOOK_OUTPUT_MAX,
  HOOK_SCRIPT_RULE,
  type HookPhase,
  type HookResult,
  type HookScriptInfo,
} from '../../shared/host/hooks.js';
import { logger } from '../../shared/log.js';
import { runScript } from './run-script.js';

const log = logger('hooks');

/** The PATH every hook gets (the only variable not given by the caller). */
export const HOOK_PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface HooksOptions {
  /** The hooks directory (default /etc/berth/hooks). */
  dir?: string;
  /** The iallocator directory (default /etc/berth/iallocators). */
  iallocatorDir?: string;
  /** Per-script time limit, ms (default 60 s; a caller may only shorten it). */
  timeoutMs?: number;
  /** An iallocator's time limit, ms (default 60 s). */
  iallocatorTimeoutMs?: number;
}

export const DEFAULT_HOOKS_DIR = '/etc/berth/hooks';
export const DEFAULT_IALLOCATOR_DIR = '/etc/berth/iallocators';
export const DEFAULT_HOOK_TIMEOUT_MS = 60_000;

/** Why a file of a hooks directory would not run, or '' if it would (Ganeti's RunParts test). */
export function skipReason(dir: string, name: string): string {
  if (!HOOK_SCRIPT_RULE.test(name)) return 'name does not match ^[a-zA-Z0-9_-]+$';
  const file = join(dir, name);
  try {
    if (!statSync(file).isFile()) return 'not a regular file';
    accessSync(file, constants.X_OK);
  } catch {
    return 'not executable';
  }
  return '';
}

/**
 * Why a path the agent would run (a script, after symlinks, or its directory) is unsafe, or '':
 * root runs it, so it must be owned by root (or the agent's own user) and writable by no one
 * else — the rule Ganeti applies to restricted commands (§6), applied here to hooks too.
 */
export function unsafeReason(path: string): string {
  const st = statSync(path);
  const me = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== me) return `${path} is owned by uid ${st.uid}`;
  if (st.mode & 0o022) return `${path} is writable by group or others`;
  return '';
}

/** The sorted entries of a directory; [] when it is missing. */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
      return [];
    throw e;
  }
}

/** Runs every script of `<hooksDir>/<hpath>-<phase>.d` in order (arguments already checked). */
export async function runHooks(
  hooksDir: string,
  hpath: string,
  phase: HookPhase,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<HookResult[]> {
  const sub = `${hpath}-${phase}.d`;
  const dir = join(hooksDir, sub);
  const out: HookResult[] = [];
  for (const name of entries(dir)) {
    const why = skipReason(dir, name);
    const label = `${sub}/${name}`;
    if (why) {
      out.push({ name: label, status: 'skip', exit_code: null, output: why, timed_out: false });
      continue;
    }
    const unsafe = unsafeReason(dir) || unsafeReason(join(dir, name));
    if (unsafe) {
      // Loud, not skipped: a gate an intruder could rewrite must not pass silently.
      log.warn('hook refused', { hook: label, why: unsafe });
      out.push({
        name: label,
        status: 'fail',
        exit_code: null,
        output: `refused: ${unsafe}`,
        timed_out: false,
      });
      continue;
    }
    const r = await runScript(join(dir, name), [], {
      env: { ...env, PATH: HOOK_PATH_ENV },
      timeoutMs,
      maxOutput: HOOK_OUTPUT_MAX,
      mergeStderr: true,
    });
    const output = r.startError
      ? `Hook script execution error: ${r.startError}`
      : r.timedOut
        ? `${r.output}${r.output && !r.output.endsWith('\n') ? '\n' : ''}killed after ${timeoutMs} ms (time limit)`
        : r.output;
    const ok = !r.startError && !r.timedOut && r.code === 0;
    if (!ok) log.warn('hook failed', { hook: label, exit: r.code, timedOut: r.timedOut });
    out.push({
      name: label,
      status: ok ? 'success' : 'fail',
      exit_code: r.code,
      output,
      timed_out: r.timedOut,
    });
  }
  return out;
}

/** Every file of every `*-pre.d` / `*-post.d` directory, and whether it would run. */
export function listHooks(hooksDir: string): HookScriptInfo[] {
  const out: HookScriptInfo[] = [];
  for (const sub of entries(hooksDir)) {
    if (!/^[a-z][a-z0-9-]*-(pre|post)\.d$/.test(sub)) continue;
    const dir = join(hooksDir, sub);
    for (const name of entries(dir)) {
      const reason = skipReason(dir, name) || unsafeReason(dir) || unsafeReason(join(dir, name));
      out.push({ dir: sub, name, runnable: !reason, reason });
    }
  }
  return out;
}
