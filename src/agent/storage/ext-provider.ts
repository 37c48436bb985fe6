// ExtStorage providers (Ganeti's ganeti-extstorage-interface): a provider is a directory named
// after it, in one of the agent's allow-listed ExtStorage directories, holding the executables
// `create attach detach remove grow setinfo verify` (required), `snapshot open close` (optional)
// and the file `parameters.list`. Each action runs with an argument array (none), a clean
// environment (VOL_*, EXTP_*), its own process group (a hung script and everything it started are
// killed at the time limit), bounded output, and a log file per run.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { runProgram } from '../run-program.js';
import { backendFailure } from './failure.js';

export const REQUIRED_ACTIONS = [
  'create',
  'attach',
  'detach',
  'remove',
  'grow',
  'setinfo',
  'verify',
] as const;
export const OPTIONAL_ACTIONS = ['snapshot', 'open', 'close'] as const;
export type ExtAction = (typeof REQUIRED_ACTIONS)[number] | (typeof OPTIONAL_ACTIONS)[number];

/** Provider, parameter and volume names: no path separators, no leading dot, nothing a shell or env could misread. */
export const PROVIDER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const PARAM_RE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
export const VOLUME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Most bytes of stdout / stderr kept per run (the rest is dropped, the script is not stopped). */
export const MAX_OUTPUT = 64 * 1024;
/** Default time limits (ms): attach/detach/verify/setinfo/open/close are quick; the rest may copy. */
export const DEFAULT_TIMEOUTS: Record<ExtAction, number> = {
  create: 300_000,
  remove: 300_000,
  grow: 300_000,
  snapshot: 600_000,
  attach: 60_000,
  detach: 60_000,
  setinfo: 60_000,
  verify: 60_000,
  open: 60_000,
  close: 60_000,
};

export interface ExtContext {
  /** Allow-listed directories providers are looked up in, in order. */
  dirs: readonly string[];
  /** Where each run's log goes. */
  logDir: string;
  /** Per-action time limits (ms) overriding DEFAULT_TIMEOUTS (tests). */
  timeouts?: Partial<Record<ExtAction, number>>;
}

export interface Provider {
  name: string;
  dir: string;
  /** Parameter names from parameters.list → description. */
  parameters: Record<string, string>;
  optional: Set<ExtAction>;
}

const fail = (status: string, detail: string, out = '') => backendFailure(status, detail, out);

/** The parameters.list text → {name: description} (pure): one parameter per line, `name description…`. */
export function parseParameters(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [name, ...rest] = t.split(/\s+/);
    if (PARAM_RE.test(name)) out[name] = rest.join(' ');
  }
  return out;
}

const isExecutableFile = (p: string): boolean => {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** Finds and checks provider `name` in the allow-listed directories (SR_BACKEND_FAILURE if unusable). */
export function findProvider(name: string | undefined, ext: ExtContext): Provider {
  if (!name)
    throw new XenApiError('INVALID_VALUE', ['device_config:provider', '', 'a provider name is required']);
  if (!PROVIDER_RE.test(name) || name.includes('..'))
    throw new XenApiError('INVALID_VALUE', ['device_config:provider', name, 'not a provider name']);
  const dir = ext.dirs.map((d) => join(d, name)).find((d) => existsSync(d) && statSync(d).isDirectory());
  if (!dir)
    throw fail('ExtProviderMissing', `ExtStorage provider ${name} not found in ${ext.dirs.join(', ')}`);
  const missing = REQUIRED_ACTIONS.filter((a) => !isExecutableFile(join(dir, a)));
  if (missing.length)
    throw fail(
      'ExtProviderInvalid',
      `ExtStorage provider ${name}: missing or non-executable script(s): ${missing.join(', ')}`,
    );
  const list = join(dir, 'parameters.list');
  if (!existsSync(list)) throw fail('ExtProviderInvalid', `ExtStorage provider ${name}: no parameters.list`);
  const optional = new Set<ExtAction>(OPTIONAL_ACTIONS.filter((a) => isExecutableFile(join(dir, a))));
  return { name, dir, parameters: parseParameters(readFileSync(list, 'utf8')), optional };
}

/** The EXTP_<NAME> variables of a device_config (every key but `provider`), checked against the provider's list. */
export function providerParams(p: Provider, dc: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(dc)) {
    if (k === 'provider') continue;
    if (!PARAM_RE.test(k) || !Object.hasOwn(p.parameters, k))
      throw new XenApiError('INVALID_VALUE', [
        `device_config:${k}`,
        v,
        `not a parameter of ExtStorage provider ${p.name} (${Object.keys(p.parameters).join(', ') || 'none'})`,
      ]);
    if (v.includes('\0') || v.length > 4096)
      throw new XenApiError('INVALID_VALUE', [`device_config:${k}`, v, 'not a parameter value']);
    env[`EXTP_${k.toUpperCase()}`] = v;
  }
  return env;
}

export interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs `file` with no arguments and `env` only through the agent's one runner
 * (../run-program.ts), in its own process group; at the limit the whole group is killed (a hung
 * script's children too). Children left running after a normal exit are not touched (a provider
 * may start a daemon, a userspace attach helper), but cannot delay the result by more than 0.5 s.
 */
export async function runScript(
  file: string,
  env: Record<string, string>,
  cwd: string,
  timeoutMs: number,
): Promise<RunOutcome> {
  const r = await runProgram(file, [], {
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    cwd,
    timeoutMs,
    output: { pipes: { maxBytes: MAX_OUTPUT, keep: 'head' } },
    exitGraceMs: 500,
    killGraceMs: 2000,
  });
  if (r.startError)
    return { code: 127, signal: null, stdout: '', stderr: r.startError.message, timedOut: false };
  return { code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut };
}

const lastLines = (text: string, n = 20) => text.trimEnd().split('\n').slice(-n).join('\n');

/** Log file name of one run (pure): `<action>-<provider>-<volume>-<timestamp>.log`, as Ganeti's. */
export function logName(action: ExtAction, provider: string, volume: string, now: Date): string {
  return `${action}-${provider}-${volume || 'none'}-${now.toISOString().replace(/[:.]/g, '')}.log`;
}

/**
 * Runs `action` of provider `p` with `env` (VOL_* plus EXTP_*). A missing optional action is
 * skipped (undefined). Failure, a time-out or death by signal is SR_BACKEND_FAILURE
 * [ExtStorage<Action>, last lines of output, "External storage's <action> script failed (…)…"].
 */
export async function runAction(
  p: Provider,
  action: ExtAction,
  env: Record<string, string>,
  ext: ExtContext,
): Promise<string | undefined> {
  if ((OPTIONAL_ACTIONS as readonly string[]).includes(action) && !p.optional.has(action)) return undefined;
  const file = join(p.dir, action);
  const limit = ext.timeouts?.[action] ?? DEFAULT_TIMEOUTS[action];
  const r = await runScript(file, env, p.dir, limit);
  writeLog(p, action, env, r, ext);
  if (r.code === 0 && !r.timedOut) return r.stdout;
  const reason = r.timedOut
    ? `timed out after ${limit / 1000} s`
    : r.signal
      ? `killed by ${r.signal}`
      : `exited with status ${r.code}`;
  const output = lastLines([r.stdout.trimEnd(), r.stderr.trimEnd()].filter(Boolean).join('\n'));
  throw fail(
    `ExtStorage${action[0].toUpperCase()}${action.slice(1)}`,
    `External storage's ${action} script failed (${reason}), last lines of output: ${output}`,
    output,
  );
}

function writeLog(
  p: Provider,
  action: ExtAction,
  env: Record<string, string>,
  r: RunOutcome,
  ext: ExtContext,
) {
  try {
    mkdirSync(ext.logDir, { recursive: true, mode: 0o700 });
    const vars = Object.entries(env)
      .filter(([k]) => k.startsWith('VOL_'))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const status = r.timedOut ? 'timed out' : r.signal ? `signal ${r.signal}` : `exit ${r.code}`;
    // EXTP_ values are left out: a provider parameter may be a secret (a password, a key).
    writeFileSync(
      join(ext.logDir, logName(action, p.name, env.VOL_NAME ?? '', new Date())),
      `# ${p.dir}/${action} ${vars}\n# ${status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n`,
      { mode: 0o600 },
    );
  } catch {
    /* a log that cannot be written does not fail the operation */
  }
}

/**
 * The block device an `attach` printed (first line; later lines are `<hypervisor>:<uri>` hints
 * Berth does not use). Must be an absolute /dev path that is a block device; anything else is
 * garbage (SR_BACKEND_FAILURE). Pure apart from the stat.
 */
export function attachedDevice(stdout: string, provider: string): string {
  const first = stdout.split('\n')[0]?.trim() ?? '';
  const bad = (why: string) =>
    fail('ExtStorageAttach', `ExtStorage provider ${provider}: attach ${why}`, stdout.slice(0, 1024));
  if (!first) throw bad('printed no block device (userspace-only access is not supported)');
  if (!/^\/dev\/[A-Za-z0-9._/+-]+$/.test(first) || first.includes('/../') || first.includes('/./'))
    throw bad(`printed ${JSON.stringify(first.slice(0, 200))}, not a /dev path`);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(first);
  } catch {
    throw bad(`printed ${first}, which does not exist`);
  }
  if (!st.isBlockDevice()) throw bad(`printed ${first}, which is not a block device`);
  return first;
}
