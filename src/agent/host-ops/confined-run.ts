// Runs a program for a host operation: argument array, its own process group (a time limit kills
// the program and everything it started), capped output, stdin /dev/null; the answer comes at the
// program's exit, so a child holding the output pipe cannot hang the call.
import { spawn } from 'node:child_process';

export interface ConfinedResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved as written (one pipe, as Ganeti's combined output). */
  output: string;
  stdout: string;
  timedOut: boolean;
}

export function runConfined(
  program: string,
  args: readonly string[],
  opts: { env: NodeJS.ProcessEnv; timeoutMs: number; maxOutputBytes: number; separateStderr?: boolean },
): Promise<ConfinedResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      env: opts.env,
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      shell: false,
    });
    const all: Buffer[] = [];
    const out: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    const keep = (into: Buffer[]) => (b: Buffer) => {
      if (size >= opts.maxOutputBytes) return;
      const part = b.subarray(0, opts.maxOutputBytes - size);
      size += part.length;
      into.push(part);
      if (into !== all) all.push(part);
    };
    child.stdout.on('data', keep(out));
    child.stderr.on('data', keep(all));
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // Answer at the program's exit, not at its pipes' close: a child it left running (a daemon
      // it restarted) may hold them open. What was already written is drained first.
      setImmediate(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({
          code,
          signal,
          output: Buffer.concat(all).toString('utf8'),
          stdout: Buffer.concat(out).toString('utf8'),
          timedOut,
        });
      });
    });
  });
}
