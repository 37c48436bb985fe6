// Runs host commands for plugins with xcpngutils.run_command semantics: argument arrays, a
// timeout, C locale for stable output; a missing binary is an OS error (errno 2) and, when the
// caller asks for it, a non-zero exit is a ProcessError.
import { CommandNotFoundError } from '../../shared/exec.js';
import { OsError, PluginFailure, ProcessError, pyRepr, pyStr } from './failure.js';
import { strerror } from './strerror.js';
import type { PluginContext } from './types.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
  command: string[];
  returncode: number;
}

export interface CommandOptions {
  /** Throw ProcessError on a non-zero exit (default true, as run_command). */
  check?: boolean;
  timeoutMs?: number;
  env?: Record<string, string>;
  input?: string;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

export async function command(
  ctx: PluginContext,
  argv: readonly string[],
  opts: CommandOptions = {},
): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? ctx.config.commandTimeoutMs;
  let r: Awaited<ReturnType<PluginContext['run']>>;
  try {
    r = await ctx.run(argv[0], argv.slice(1), {
      timeoutMs,
      input: opts.input,
      // LVM warns about inherited descriptors; C locale keeps every tool's output parseable.
      env: { ...process.env, LC_ALL: 'C', LANG: 'C', LVM_SUPPRESS_FD_WARNINGS: '1', ...opts.env },
    });
  } catch (e) {
    if (e instanceof CommandNotFoundError) throw new OsError(2, 'No such file or directory', argv[0]);
    // Could not start (EACCES, ENOEXEC...): python's Popen raises OSError(errno, strerror, argv[0]).
    const known = strerror(String((e as NodeJS.ErrnoException).code ?? ''));
    if (known && String((e as NodeJS.ErrnoException).syscall ?? '').startsWith('spawn'))
      throw new OsError(known[0], known[1], argv[0]);
    throw e;
  }
  if (r.timedOut) {
    throw new PluginFailure(
      '-1',
      `Command '${pyRepr(argv)}' timed out after ${timeoutMs / 1000} s`,
      `stdout: ${pyStr(r.stdout)}, stderr: ${pyStr(r.stderr)}`,
    );
  }
  // python reports death by signal N as returncode -N
  const returncode = r.code ?? -(SIGNALS[r.signal ?? ''] ?? 1);
  const result = { stdout: r.stdout, stderr: r.stderr, command: [...argv], returncode };
  if ((opts.check ?? true) && returncode !== 0) {
    throw new ProcessError(returncode, argv, r.stdout, r.stderr);
  }
  return result;
}
