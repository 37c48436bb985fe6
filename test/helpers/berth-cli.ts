// Runs the real `berth` CLI as a child process (node + tsx on the sources), as a user would:
// for end-to-end tests of the grammar, exit codes and output. → {code, stdout, stderr}.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'clients', 'berth', 'main.ts');
/** tsx resolved here, so a test may run the CLI from any working directory. */
const TSX = import.meta.resolve('tsx');

export interface BerthResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface BerthRunOptions {
  /** Added to the environment (BERTHCONFIG, HOME, NO_COLOR…); HOME defaults to a place with no config. */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then stdin is closed. */
  input?: string;
  cwd?: string;
  /** Another entry script with the same process wrapper (a test registry of nouns). */
  entry?: string;
  /** Kill after this long (default 60 s) and fail. */
  timeoutMs?: number;
}

export function runBerth(args: string[], opts: BerthRunOptions = {}): Promise<BerthResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, opts.entry ?? MAIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      // No ambient configuration: the user's ini file and local socket stay out of tests.
      env: {
        ...process.env,
        HOME: '/nonexistent',
        BERTHCONFIG: '',
        BERTH_XAPI_SOCKET: '/nonexistent/xapi.sock',
        NO_COLOR: '',
        ...opts.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth ${args.join(' ')} timed out\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
