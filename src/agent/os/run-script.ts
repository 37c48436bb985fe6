// Runs one OS script through the agent's one runner (../run-program.ts): argument array, cleared
// environment, cwd the OS directory, stdout and stderr into its log file, in a process group of
// its own that is killed at the time limit and after the script ends (a background child must not
// keep writing to a disk being detached).
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { runProgram } from '../run-program.js';

export interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  ms: number;
}

export async function runScript(
  script: string,
  args: readonly string[],
  opts: { env: Record<string, string>; cwd: string; log: string; timeoutMs: number },
): Promise<ScriptRun> {
  mkdirSync(dirname(opts.log), { recursive: true, mode: 0o700 });
  const fd = openSync(opts.log, 'a', 0o600);
  writeSync(fd, `# ${new Date().toISOString()} ${script} ${args.join(' ')}\n`);
  const started = performance.now();
  const r = await runProgram(script, args, {
    env: opts.env,
    cwd: opts.cwd,
    timeoutMs: opts.timeoutMs,
    output: { fd },
    killGroupWhenDone: true,
  }).finally(() => closeSync(fd));
  if (r.startError)
    throw new XenApiError('OS_SCRIPT_FAILED', [
      '',
      script,
      `cannot run: ${r.startError.message}`,
      '',
      opts.log,
    ]);
  return { code: r.code, signal: r.signal, timedOut: r.timedOut, ms: performance.now() - started };
}

/** The last `n` lines of a log (Ganeti returns 20 on failure). */
export function logTail(log: string, n = 20): string {
  try {
    const lines = readFileSync(log, 'utf8').replace(/\n$/, '').split('\n');
    return lines.slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** Why a run failed, in words (undefined for success). */
export function failureReason(r: ScriptRun, timeoutMs: number): string | undefined {
  if (r.timedOut) return `killed after the time limit of ${Math.round(timeoutMs / 1000)} s`;
  if (r.signal) return `killed by ${r.signal}`;
  if (r.code !== 0) return `exited with exit code ${r.code}`;
  return undefined;
}
