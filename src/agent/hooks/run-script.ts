// Runs one site script (a hook or an iallocator) the way the hooks contract promises: an argument
// array and never a shell, stdin /dev/null, the environment given and nothing inherited, its own
// process group (killed whole at the time limit, so a script's children cannot hold it open), and
// only the tail of its output kept.
import { spawn } from 'node:child_process';

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

/** A bounded tail of a stream: the last `max` bytes seen. */
class Tail {
  private chunks: Buffer[] = [];
  private len = 0;
  total = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer) {
    this.total += b.length;
    this.chunks.push(b);
    this.len += b.length;
    while (this.len - this.chunks[0].length >= this.max) this.len -= this.chunks.shift()!.length;
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.max)).toString('utf8');
  }
}

/** After the kill, how long to wait for the exit before reporting anyway. */
const KILL_GRACE_MS = 2000;

export function runScript(
  file: string,
  args: readonly string[],
  opts: { env: Record<string, string>; timeoutMs: number; maxOutput: number; mergeStderr: boolean },
): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const out = new Tail(opts.maxOutput);
    const err = opts.mergeStderr ? out : new Tail(opts.maxOutput);
    let timedOut = false;
    let settled = false;
    const child = spawn(file, args, {
      env: opts.env,
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      detached: true, // its own process group: the time limit kills the script's children too
    });
    const finish = (r: Omit<ScriptRun, 'output' | 'stderr' | 'truncated' | 'timedOut'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        ...r,
        timedOut,
        output: out.text(),
        stderr: opts.mergeStderr ? '' : err.text(),
        truncated: out.total > opts.maxOutput,
      });
    };
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
      setTimeout(() => finish({ code: null }), KILL_GRACE_MS);
    }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => finish({ code: null, startError: e.code ?? e.message }));
    // Reported at 'close' (all output read), or shortly after 'exit' when a grandchild left
    // running holds the pipes open: it must not keep the run open.
    let exitCode: number | null = null;
    child.on('exit', (code) => {
      exitCode = timedOut ? null : code;
      setTimeout(() => finish({ code: exitCode }), 500);
    });
    child.on('close', () => finish({ code: exitCode }));
  });
}
