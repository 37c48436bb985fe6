// Test helpers: a scripted command runner replaying recorded outputs, fixture loading, temp dirs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../../src/shared/exec.js';
import { CommandNotFoundError } from '../../../src/shared/exec.js';
import { type PluginHostOptions, PluginHost } from '../../../src/agent/plugins/host.js';
import type { CommandRunner } from '../../../src/agent/plugins/types.js';

export const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
export const fixtureJson = (name: string): unknown => JSON.parse(fixture(name));

export type Reply = Partial<RunResult> | 'missing';

/** A runner that answers each command from `script` and records every argv it was given. */
export function scripted(script: (argv: string[]) => Reply | Promise<Reply>): {
  run: CommandRunner;
  calls: string[][];
} {
  const calls: string[][] = [];
  const run: CommandRunner = async (cmd, args) => {
    const argv = [cmd, ...args];
    calls.push(argv);
    const r = await script(argv);
    if (r === 'missing') throw new CommandNotFoundError(cmd);
    return { code: 0, signal: null, stdout: '', stderr: '', timedOut: false, ...r };
  };
  return { run, calls };
}

/** A host with a quiet logger. */
export function host(opts: PluginHostOptions = {}): PluginHost {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  return new PluginHost({ log: quiet, ...opts });
}

export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `berth-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Resolves with the XenApiError description [code, ...params] of a rejected call. */
export async function failure(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (e) {
    const d = (e as { description?: string[] }).description;
    if (!d) throw e;
    return d;
  }
  throw new Error('expected the call to fail');
}
