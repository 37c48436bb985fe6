// Runs a program for a host operation through the agent's one runner (../run-program.ts): its own
// process group killed at the time limit, stdin /dev/null, one output budget for stdout and stderr
// (the first bytes kept, interleaved as Ganeti's combined output), answered at the program's exit.
import { runProgram } from '../run-program.js';

export interface ConfinedResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved as written (one pipe, as Ganeti's combined output). */
  output: string;
  stdout: string;
  timedOut: boolean;
}

/** Rejects with the start error (ENOENT, EACCES…) when the program cannot run. */
export async function runConfined(
  program: string,
  args: readonly string[],
  opts: { env: NodeJS.ProcessEnv; timeoutMs: number; maxOutputBytes: number },
): Promise<ConfinedResult> {
  const r = await runProgram(program, args, {
    env: opts.env,
    timeoutMs: opts.timeoutMs,
    output: { pipes: { maxBytes: opts.maxOutputBytes, keep: 'head', shared: true } },
  });
  if (r.startError) throw r.startError;
  return { code: r.code, signal: r.signal, output: r.output, stdout: r.stdout, timedOut: r.timedOut };
}
