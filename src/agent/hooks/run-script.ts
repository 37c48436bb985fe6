// Runs one site script (a hook or an iallocator) through the agent's one runner
// (../run-program.ts) the way the hooks contract promises: an argument array and never a shell,
// stdin /dev/null, the environment given and nothing inherited, its own process group (killed
// whole at the time limit, so a script's children cannot hold it open), and only the tail of its
// output kept.
import { runProgram } from '../run-program.js';

export interface ScriptRun {
  code: number | null;
  timedOut: boolean;
  /** The last `maxOutput` bytes of stdout (and of stderr when merged). */
  output: string;
  /** stderr's tail when not merged into output. */
  stderr: string;
  /** It could not start (ENOENT, EACCES…). */
  startError?: string;
  /** stdout went past `maxOutput` (only the tail is in `output`). */
  truncated: boolean;
}

/** After the kill, how long to wait for the exit before reporting anyway. */
const KILL_GRACE_MS = 2000;
/** After the exit, how long a grandchild left holding the pipes may delay the report. */
const EXIT_GRACE_MS = 500;

export async function runScript(
  file: string,
  args: readonly string[],
  opts: { env: Record<string, string>; timeoutMs: number; maxOutput: number; mergeStderr: boolean },
): Promise<ScriptRun> {
  const r = await runProgram(file, args, {
    env: opts.env,
    timeoutMs: opts.timeoutMs,
    output: { pipes: { maxBytes: opts.maxOutput, keep: 'tail', shared: opts.mergeStderr } },
    exitGraceMs: EXIT_GRACE_MS,
    killGraceMs: KILL_GRACE_MS,
  });
  const seen = r.stdoutBytes + (opts.mergeStderr ? r.stderrBytes : 0);
  return {
    code: r.timedOut || r.startError ? null : r.code,
    timedOut: r.timedOut,
    output: opts.mergeStderr ? r.output : r.stdout,
    stderr: opts.mergeStderr ? '' : r.stderr,
    ...(r.startError ? { startError: r.startError.code ?? r.startError.message } : {}),
    truncated: seen > opts.maxOutput,
  };
}
