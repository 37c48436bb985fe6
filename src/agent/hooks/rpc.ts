// The hooks procedures as the agent serves them (src/shared/host/hooks.ts). The RPC is a trust
// boundary: hpath, phase, env names and values, script and allocator names are checked here
// (INVALID_VALUE [name, value] otherwise) before any path is built from them.
import { XenApiError } from '../../shared/errors.js';
import {
  HOOK_ENV_RULE,
  HOOK_PATH_RULE,
  HOOK_SCRIPT_RULE,
  type HooksProcedureName,
} from '../../shared/host/hooks.js';
import type { Procedure } from '../server.js';
import { runIallocator } from './iallocator.js';
import {
  DEFAULT_HOOK_TIMEOUT_MS,
  DEFAULT_HOOKS_DIR,
  DEFAULT_IALLOCATOR_DIR,
  type HooksOptions,
  listHooks,
  runHooks,
} from './runner.js';

const bad = (name: string, v: unknown) =>
  new XenApiError('INVALID_VALUE', [name, (JSON.stringify(v) ?? 'undefined').slice(0, 200)]);

/** At most this many variables, each value at most this long: a hook's env stays small. */
const MAX_ENV_VARS = 256;
const MAX_ENV_VALUE = 4096;
/** An iallocator request at most (bytes). */
const MAX_IALLOCATOR_INPUT = 8 * 1024 * 1024;

function envArg(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad('env', v);
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_ENV_VARS) throw bad('env', `${entries.length} variables`);
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    if (!HOOK_ENV_RULE.test(k)) throw bad('env', k);
    if (typeof val !== 'string' || val.length > MAX_ENV_VALUE || val.includes('\0')) throw bad(k, val);
    out[k] = val;
  }
  return out;
}

export function hooksProcedures(opts: HooksOptions = {}): Record<HooksProcedureName, Procedure> {
  const dir = opts.dir ?? DEFAULT_HOOKS_DIR;
  const iallocatorDir = opts.iallocatorDir ?? DEFAULT_IALLOCATOR_DIR;
  const limit = opts.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
  return {
    hooks_runner: (hpath: unknown, phase: unknown, env: unknown, timeoutMs: unknown) => {
      if (typeof hpath !== 'string' || !HOOK_PATH_RULE.test(hpath) || hpath.length > 64)
        throw bad('hpath', hpath);
      if (phase !== 'pre' && phase !== 'post') throw bad('phase', phase);
      let ms = limit;
      if (timeoutMs !== undefined && timeoutMs !== null) {
        if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0)
          throw bad('timeout', timeoutMs);
        ms = Math.min(limit, timeoutMs);
      }
      return runHooks(dir, hpath, phase, envArg(env), ms);
    },
    hooks_list: () => listHooks(dir),
    iallocator_runner: (name: unknown, input: unknown) => {
      if (typeof name !== 'string' || !HOOK_SCRIPT_RULE.test(name) || name.length > 64)
        throw bad('name', name);
      if (typeof input !== 'string' || input.length > MAX_IALLOCATOR_INPUT) throw bad('input', '…');
      return runIallocator(iallocatorDir, name, input, opts.iallocatorTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS);
    },
  };
}
