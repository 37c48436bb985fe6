// The `berth` process around the runner: the real streams and environment, a quiet exit when a
// pipe reader goes away, exit 1 on Ctrl-C (oVirtCmd's KeyboardInterrupt), the exit code set.
import { exitQuietlyOnBrokenPipe } from '../xe/broken-pipe.js';
import { runCli } from './runner.js';
import type { NounSpec } from './spec.js';

export function runAsProcess(nouns: NounSpec[]): void {
  const exit = (code: number) => process.exit(code);
  exitQuietlyOnBrokenPipe(process.stdout, exit);
  exitQuietlyOnBrokenPipe(process.stderr, exit);
  process.on('SIGINT', () => exit(1));
  runCli(process.argv.slice(2), nouns, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 251;
    },
  );
}
