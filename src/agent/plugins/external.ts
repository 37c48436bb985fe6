// Administrator-supplied executable plugins in the plugin directory.
//
// Calling convention: the executable <dir>/<name> is run with the function name as its only
// argument (argv[1]) and the arguments as a JSON object of strings on stdin, in a clean
// environment (PATH, C locale, BERTH_PLUGIN_NAME, BERTH_PLUGIN_FUNCTION). Exit 0: stdout (one
// trailing newline removed) is the result. Non-zero exit: if stdout is a JSON array of up to
// three strings it is the failure [code, message, details]; otherwise the failure is
// ["non-zero exit", stdout, stderr] as xapi reports it. Killed by a signal: ["signal: SIGx",
// stdout, stderr]; over the time limit: killed, ["timeout", "...", stderr].
import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runProgram } from '../run-program.js';
import { PluginFailure } from './failure.js';

/** A plugin name is a single path component: no '/', no leading dot, so no traversal. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;
/** Function names go to argv[1]; no leading '-', so they cannot read as options. */
const FN_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;

export const validPluginName = (name: string): boolean => NAME_RE.test(name);
export const validFunctionName = (fn: string): boolean => FN_RE.test(fn);

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Candidate file names for a plugin name: as given, then with or without the `.py` suffix. */
export function candidateNames(name: string): string[] {
  return name.endsWith('.py') ? [name, name.slice(0, -3)] : [name, `${name}.py`];
}

/** The executable for `name` in `dir`, or null. */
export async function findExecutable(dir: string, name: string): Promise<string | null> {
  if (!validPluginName(name)) return null;
  for (const candidate of candidateNames(name)) {
    if (!validPluginName(candidate)) continue;
    const path = join(dir, candidate);
    if (await isExecutableFile(path)) return path;
  }
  return null;
}

/** Every executable plugin file in `dir` (an absent directory has none). */
export async function listExecutables(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names.sort()) {
    if (validPluginName(n) && (await isExecutableFile(join(dir, n)))) out.push(n);
  }
  return out;
}

/** Interprets a finished executable plugin run (pure). */
export function interpretRun(
  name: string,
  timeoutMs: number,
  r: { code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean },
): string {
  if (r.timedOut) {
    throw new PluginFailure(
      'timeout',
      `plugin ${name} did not finish within ${timeoutMs / 1000} s`,
      r.stderr,
    );
  }
  if (r.code === 0) return r.stdout.endsWith('\n') ? r.stdout.slice(0, -1) : r.stdout;
  if (r.code === null) throw new PluginFailure(`signal: ${r.signal}`, r.stdout, r.stderr);
  const declared = declaredFailure(r.stdout);
  if (declared) throw new PluginFailure(declared[0], declared[1] ?? '', declared[2] ?? '');
  throw new PluginFailure('non-zero exit', r.stdout, r.stderr);
}

function declaredFailure(stdout: string): string[] | null {
  try {
    const v: unknown = JSON.parse(stdout);
    if (Array.isArray(v) && v.length >= 1 && v.length <= 3 && v.every((x) => typeof x === 'string')) {
      return v as string[];
    }
  } catch {
    /* not a declared failure */
  }
  return null;
}

export interface ExecOutcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Most bytes of stdout / stderr kept each (the first ones). */
const MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * Runs the plugin through the agent's one runner (../run-program.ts), in its own process group:
 * on timeout the whole group (including anything it started in the background holding our pipes)
 * is killed and the call returns; whatever it left running dies with it when the call answers.
 * shared/exec.ts kills only the direct child, which is not enough for arbitrary scripts.
 */
export async function runExecutable(
  path: string,
  name: string,
  fn: string,
  args: Record<string, string>,
  timeoutMs: number,
): Promise<string> {
  const r = await runProgram(path, [fn], {
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      LC_ALL: 'C',
      LANG: 'C',
      BERTH_PLUGIN_NAME: name,
      BERTH_PLUGIN_FUNCTION: fn,
    },
    timeoutMs,
    input: JSON.stringify(args),
    output: { pipes: { maxBytes: MAX_OUTPUT, keep: 'head' } },
    killGroupWhenDone: true,
    // Background leftovers get a moment to flush after the exit; after the kill the pipes may
    // stay open if something escaped the group: neither is waited for long.
    exitGraceMs: 500,
    killGraceMs: 200,
  });
  if (r.startError) throw new PluginFailure('-1', `cannot run plugin ${name}: ${r.startError.message}`);
  const outcome: ExecOutcome = {
    code: r.code,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    timedOut: r.timedOut,
  };
  return interpretRun(name, timeoutMs, outcome);
}
