#!/usr/bin/env node
// xe: the thin client. Strips its own options, POSTs the rest to /cli and obeys the server
// (print, prompt, console connect, exit) over the thin CLI protocol — so it also works with xapi.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { exitQuietlyOnBrokenPipe } from './broken-pipe.js';
import { runThinClient } from './session.js';

export interface XeOptions {
  server: string;
  port?: number;
  username: string;
  password: string;
  nossl: boolean;
  debug: boolean;
  socket: string;
  args: string[];
}

const DEFAULT_SOCKET = '/run/berth/xapi.sock';

export const USAGE = (argv0: string) => `Usage:
  ${argv0} <command>
    [ -s <server> ]            XenServer host
    [ -p <port> ]              XenServer port number
    [ -u <username> -pw <password> | -pwf <password file> ]
                               User authentication (password or file)
    [ --nossl ]                Disable SSL/TLS
    [ --debug ]                Enable debug output
    [ --debug-on-fail ]        Enable debug output only on failure
    [ --minimal ]              Output only values in a comma-separated lists
    [ --traceparent <value> ]  Distributed tracing context
    [ --trace ]                Show task stacktrace on failure
    [ <other arguments> ... ]  Command-specific options

A full list of commands can be obtained by running
  ${argv0} help -s <server> -p <port>
`;

export class UsageExit extends Error {
  constructor(
    readonly text: string,
    readonly code: number,
  ) {
    super(text);
  }
}

const KEY_ALIASES: Record<string, string> = {
  server: 'server',
  port: 'port',
  username: 'username',
  password: 'password',
  passwordfile: 'passwordfile',
  nossl: 'nossl',
  debug: 'debug',
  debugonfail: 'debugonfail',
  traceparent: 'traceparent',
};

/** `~/.xe`: `key=value` lines; a malformed line voids the whole file. */
export function parseRcFile(text: string): { settings: [string, string][]; error?: string } {
  const out: [string, string][] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    if (eq < 0) return { settings: [], error: 'Error parsing rc file. No defaults loaded' };
    out.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return { settings: out };
}

/**
 * Resolves options with xapi's precedence: command line > XE_EXTRA_ARGS > ~/.xe > defaults.
 * Returns the options and the arguments to send.
 */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv, rc: [string, string][]): XeOptions {
  const set = new Map<string, string>();
  const args: string[] = [];
  const take = (list: string[], keep: boolean) => {
    for (let i = 0; i < list.length; i++) {
      const a = list[i];
      const two = (k: string) => {
        if (i + 1 >= list.length) throw new UsageExit(USAGE('xe'), 1);
        if (keep || !set.has(k)) set.set(k, list[i + 1]);
        i++;
      };
      const flag = (k: string) => {
        if (keep || !set.has(k)) set.set(k, 'true');
      };
      if (a === '-help' || a === '--help') throw new UsageExit(USAGE('xe'), 0);
      if (a === '-version') throw new UsageExit('ThinCLI protocol: 0.2\n', 0);
      if (a === '-s' || a === '-h') two('server');
      else if (a === '-p') two('port');
      else if (a === '-u') two('username');
      else if (a === '-pw') two('password');
      else if (a === '-pwf') two('passwordfile');
      else if (a === '--traceparent') two('traceparent');
      else if (a === '--nossl') flag('nossl');
      else if (a === '--debug') flag('debug');
      else if (a === '--debug-on-fail') flag('debugonfail');
      else {
        const eq = a.indexOf('=');
        const key = eq > 0 ? KEY_ALIASES[a.slice(0, eq)] : undefined;
        if (key) {
          if (keep || !set.has(key)) set.set(key, a.slice(eq + 1));
        } else if (keep) args.push(a);
      }
    }
  };
  // Command line first (it wins), then the lower-precedence sources fill gaps.
  take(argv, true);
  const extra = env.XE_EXTRA_ARGS;
  if (extra)
    take(
      extra.split(/(?<!\\),/).map((s) => s.replace(/\\/g, '')),
      false,
    );
  for (const [k, v] of rc) {
    if (KEY_ALIASES[k]) {
      if (!set.has(k)) set.set(k, v);
    } else args.push(`${k}=${v}`);
  }
  let username = set.get('username') ?? 'root';
  let password = set.get('password') ?? 'null';
  const pwf = set.get('passwordfile');
  if (pwf !== undefined) {
    let text: string;
    try {
      text = readFileSync(pwf, 'utf8');
    } catch {
      throw new UsageExit(`Error opening password file '${pwf}'\n`, 1);
    }
    const lines = text.split('\n');
    if (lines.length < 2)
      throw new UsageExit(
        'Error: password file format: expecting username on the first line, password on the second line\n',
        1,
      );
    username = lines[0];
    password = lines[1];
  }
  const portText = set.get('port');
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port > 65535)
      throw new UsageExit(`Port number must be an integer (0-65535)\n${USAGE('xe')}`, 0);
  }
  return {
    server: set.get('server') ?? '127.0.0.1',
    port,
    username,
    password,
    nossl: set.get('nossl') === 'true',
    debug: set.get('debug') === 'true',
    socket: env.BERTH_XAPI_SOCKET ?? DEFAULT_SOCKET,
    args,
  };
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.length === 0) {
    process.stdout.write(USAGE('xe'));
    return 0;
  }
  let rc: [string, string][] = [];
  try {
    const parsed = parseRcFile(readFileSync(join(homedir(), '.xe'), 'utf8'));
    if (parsed.error) process.stderr.write(`${parsed.error}\n`);
    rc = parsed.settings;
  } catch {
    // no ~/.xe
  }
  let opts: XeOptions;
  try {
    opts = parseOptions(argv, process.env, rc);
  } catch (e) {
    if (e instanceof UsageExit) {
      (e.code === 0 ? process.stdout : process.stderr).write(e.text);
      return e.code;
    }
    throw e;
  }
  return runThinClient(opts, {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    progress: process.stderr.isTTY === true,
  });
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/xe')) {
  const exit = (code: number) => process.exit(code);
  exitQuietlyOnBrokenPipe(process.stdout, exit);
  exitQuietlyOnBrokenPipe(process.stderr, exit);
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
