// Runs one program the way every script-running part of the agent must (hooks, OS scripts,
// ExtStorage providers, host operations, plugins): an argument array and never a shell, the
// environment given and nothing inherited, stdin /dev/null (or a given input), its own process
// group killed whole at the time limit, bounded output, and an answer that a grandchild holding
// the pipes cannot hold back. What differs between callers is an option, not a copy.
import { spawn } from 'node:child_process';

/** Where the program's stdout and stderr go. */
export type OutputSpec =
  /** Read through pipes, at most `maxBytes` kept per budget: the first bytes (`head`) or the last (`tail`).
   * `shared`: one budget for both streams, their interleaving kept (see ProgramRun.output). */
  | { pipes: { maxBytes: number; keep: 'head' | 'tail'; shared?: boolean } }
  /** Both streams written straight into this open file descriptor (a log); nothing kept. */
  | { fd: number };

export interface RunProgramOptions {
  env: NodeJS.ProcessEnv;
  /** Working directory (default /). */
  cwd?: string;
  timeoutMs: number;
  output: OutputSpec;
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  /** Kill the whole group when answering, also after a normal exit (nothing left running). */
  killGroupWhenDone?: boolean;
  /** After the program's exit, how long to wait for its pipes to close (a child it left running
   * may hold them) before answering anyway; 0 (default): answer at the exit, once what was
   * already written is read. */
  exitGraceMs?: number;
  /** After the time-limit kill, how long to wait for the exit before answering anyway (code null,
   * signal SIGKILL); default: wait for the exit. */
  killGraceMs?: number;
}

export interface ProgramRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Kept stdout / stderr (empty with fd output). */
  stdout: string;
  stderr: string;
  /** Both streams interleaved as read (a shared budget only; otherwise empty). */
  output: string;
  /** Bytes each stream wrote in all, kept or not. */
  stdoutBytes: number;
  stderrBytes: number;
  /** It could not start (ENOENT, EACCES…): nothing else in the run means anything. */
  startError?: NodeJS.ErrnoException;
}

type Source = 'out' | 'err';

/** A byte-bounded record of chunks from one or two streams, keeping the head or the tail (pure). */
export class Capture {
  private chunks: { src: Source; buf: Buffer }[] = [];
  private len = 0;
  constructor(
    private readonly max: number,
    private readonly keep: 'head' | 'tail',
  ) {}
  push(src: Source, buf: Buffer): void {
    if (this.keep === 'head') {
      if (this.len >= this.max) return;
      const part = buf.subarray(0, this.max - this.len);
      this.len += part.length;
      this.chunks.push({ src, buf: part });
      return;
    }
    this.chunks.push({ src, buf });
    this.len += buf.length;
    // Whole chunks that lie before the last `max` bytes are dropped; text() trims the first one.
    while (this.chunks.length > 1 && this.len - this.chunks[0].buf.length >= this.max)
      this.len -= this.chunks.shift()!.buf.length;
  }
  /** The kept text, of one stream or of both interleaved. */
  text(src?: Source): string {
    let skip = Math.max(0, this.len - this.max);
    const parts: Buffer[] = [];
    for (const c of this.chunks) {
      const buf = skip ? c.buf.subarray(Math.min(skip, c.buf.length)) : c.buf;
      skip -= c.buf.length - buf.length;
      if (!src || c.src === src) parts.push(buf);
    }
    return Buffer.concat(parts).toString('utf8');
  }
}

const killGroup = (pid: number | undefined): void => {
  try {
    if (pid) process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
};

export function runProgram(
  program: string,
  args: readonly string[],
  opts: RunProgramOptions,
): Promise<ProgramRun> {
  return new Promise((resolve) => {
    const fd = 'fd' in opts.output ? opts.output.fd : undefined;
    const spec = 'pipes' in opts.output ? opts.output.pipes : { maxBytes: 0, keep: 'head' as const };
    const child = spawn(program, args, {
      env: opts.env,
      cwd: opts.cwd ?? '/',
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', fd ?? 'pipe', fd ?? 'pipe'],
      detached: true, // its own process group: the time limit kills what it started too
      shell: false,
    });
    const outCap = new Capture(spec.maxBytes, spec.keep);
    const errCap = spec.shared ? outCap : new Capture(spec.maxBytes, spec.keep);
    const bytes = { out: 0, err: 0 };
    child.stdout?.on('data', (b: Buffer) => {
      bytes.out += b.length;
      outCap.push('out', b);
    });
    child.stderr?.on('data', (b: Buffer) => {
      bytes.err += b.length;
      errCap.push('err', b);
    });
    if (child.stdin) {
      child.stdin.on('error', () => {
        /* the program may exit before reading its input */
      });
      child.stdin.end(opts.input);
    }
    let timedOut = false;
    let settled = false;
    let exitGrace: NodeJS.Timeout | undefined;
    let killGrace: NodeJS.Timeout | undefined;
    const finish = (
      code: number | null,
      signal: NodeJS.Signals | null,
      startError?: NodeJS.ErrnoException,
    ) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(exitGrace);
      clearTimeout(killGrace);
      // A child left running keeps its own copy of the pipes; only our hold on them is dropped.
      child.stdout?.destroy();
      child.stderr?.destroy();
      if (opts.killGroupWhenDone) killGroup(child.pid);
      resolve({
        code,
        signal,
        timedOut,
        stdout: outCap.text('out'),
        stderr: errCap.text('err'),
        output: spec.shared ? outCap.text() : '',
        stdoutBytes: bytes.out,
        stderrBytes: bytes.err,
        ...(startError ? { startError } : {}),
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      if (opts.killGraceMs !== undefined)
        killGrace = setTimeout(() => finish(null, 'SIGKILL'), opts.killGraceMs);
    }, opts.timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => finish(null, null, e));
    child.on('exit', (code, signal) => {
      // 'exit' comes when the program ends, 'close' when every holder of its pipes has gone.
      if (opts.exitGraceMs) exitGrace = setTimeout(() => finish(code, signal), opts.exitGraceMs);
      else setImmediate(() => finish(code, signal)); // what was already written is read first
    });
    child.on('close', (code, signal) => finish(code, signal));
  });
}
