#!/usr/bin/env node
// berth: the noun/verb CLI over Berth's API (after oVirtCmd). Exit codes: 0, 253 usage or
// configuration, 252 not found, 251 failed, 1 interrupted (Ctrl-C).
import { exitQuietlyOnBrokenPipe } from '../xe/broken-pipe.js';
import { NOUNS } from './nouns/index.js';
import { runCli } from './runner.js';

const exit = (code: number) => process.exit(code);
exitQuietlyOnBrokenPipe(process.stdout, exit);
exitQuietlyOnBrokenPipe(process.stderr, exit);
process.on('SIGINT', () => exit(1));
runCli(process.argv.slice(2), NOUNS, {
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
