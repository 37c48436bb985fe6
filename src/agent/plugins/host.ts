// The plugin host: resolves a plugin name to a built-in module or an executable in the plugin
// directory, checks the function, runs it and turns every failure into the XenAPI error xapi
// would send (XENAPI_PLUGIN_FAILURE [code, message, details]).
import { run } from '../../shared/exec.js';
import { XenApiError } from '../../shared/errors.js';
import { type Logger, logger } from '../../shared/log.js';
import { BUILTIN_PLUGINS } from './builtin/registry.js';
import { findExecutable, listExecutables, runExecutable, validFunctionName } from './external.js';
import { failureParams } from './failure.js';
import { LockTable } from './locks.js';
import type { BuiltinPlugin, CommandRunner, PluginConfig, PluginContext } from './types.js';

export interface PluginInfo {
  /** The name a caller uses (built-ins also answer to `<name>.py`). */
  name: string;
  kind: 'builtin' | 'executable';
  /** Known functions; empty for executables (they report unknown functions themselves). */
  functions: string[];
}

export interface PluginHostOptions extends Partial<PluginConfig> {
  run?: CommandRunner;
  plugins?: readonly BuiltinPlugin[];
  log?: Logger;
}

/** Defaults, with the environment overrides an installation may set. */
export function defaultConfig(env: NodeJS.ProcessEnv = process.env): PluginConfig {
  const ms = (v: string | undefined, d: number) => (v && Number(v) > 0 ? Number(v) : d);
  return {
    pluginDir: env.BERTH_PLUGIN_DIR || '/etc/berth/plugins',
    externalTimeoutMs: ms(env.BERTH_PLUGIN_TIMEOUT_MS, 60_000),
    commandTimeoutMs: 120_000,
    packageTimeoutMs: 3_600_000,
    updaterLockWaitMs: 10_000,
    refreshPackageLists: true,
    aptEnv: {},
    yumRepoFile: '/etc/yum.repos.d/xcp-ng.repo',
    yumDefaultRepos: null,
    netdataStreamConf: '/etc/netdata/stream.conf',
  };
}

const stripPy = (name: string) => (name.endsWith('.py') ? name.slice(0, -3) : name);

export class PluginHost {
  private readonly builtins: Map<string, BuiltinPlugin>;
  private readonly ctx: PluginContext;

  constructor(opts: PluginHostOptions = {}) {
    const { run: runner, plugins, log, ...config } = opts;
    this.builtins = new Map((plugins ?? BUILTIN_PLUGINS).map((p) => [p.name, p]));
    this.ctx = {
      run: runner ?? run,
      config: { ...defaultConfig(), ...stripUndefined(config) },
      locks: new LockTable(),
      log: log ?? logger('plugins'),
    };
  }

  get config(): PluginConfig {
    return this.ctx.config;
  }

  async call(plugin: string, fn: string, args: Record<string, string>): Promise<string> {
    if (typeof plugin !== 'string') throw new XenApiError('XENAPI_MISSING_PLUGIN', [String(plugin)]);
    if (typeof fn !== 'string') throw new XenApiError('UNKNOWN_XENAPI_PLUGIN_FUNCTION', [String(fn)]);
    const parsed = checkArgs(args);
    const builtin = this.builtins.get(stripPy(plugin));
    if (builtin) {
      const impl = builtin.functions.get(fn);
      if (!impl) throw new XenApiError('UNKNOWN_XENAPI_PLUGIN_FUNCTION', [fn]);
      return this.guard(plugin, fn, () => impl(parsed, this.ctx));
    }
    const path = await findExecutable(this.ctx.config.pluginDir, plugin);
    if (!path) throw new XenApiError('XENAPI_MISSING_PLUGIN', [plugin]);
    if (!validFunctionName(fn)) throw new XenApiError('UNKNOWN_XENAPI_PLUGIN_FUNCTION', [fn]);
    return this.guard(plugin, fn, () =>
      runExecutable(path, plugin, fn, { ...parsed }, this.ctx.config.externalTimeoutMs),
    );
  }

  async list(): Promise<PluginInfo[]> {
    const out: PluginInfo[] = [...this.builtins.values()].map((p) => ({
      name: p.name,
      kind: 'builtin',
      functions: [...p.functions.keys()].sort(),
    }));
    for (const name of await listExecutables(this.ctx.config.pluginDir)) {
      if (!this.builtins.has(stripPy(name))) out.push({ name, kind: 'executable', functions: [] });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Runs one call; arguments are never logged (they may hold passwords). */
  private async guard(plugin: string, fn: string, body: () => Promise<string>): Promise<string> {
    try {
      const result = await body();
      if (typeof result !== 'string') throw new Error(`plugin ${plugin} returned a non-string result`);
      return result;
    } catch (e) {
      if (e instanceof XenApiError) throw e;
      const params = failureParams(e);
      this.ctx.log.warn('plugin call failed', { plugin, fn, code: params[0], message: params[1] });
      throw new XenApiError('XENAPI_PLUGIN_FAILURE', params);
    }
  }
}

function checkArgs(args: unknown): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (args === undefined || args === null) return out;
  if (typeof args !== 'object' || Array.isArray(args)) {
    throw new XenApiError('XENAPI_PLUGIN_FAILURE', ['-1', 'plugin arguments must be a string map', '']);
  }
  for (const [k, v] of Object.entries(args)) {
    if (typeof v !== 'string') {
      throw new XenApiError('XENAPI_PLUGIN_FAILURE', ['-1', `argument '${k}' is not a string`, '']);
    }
    out[k] = v;
  }
  return out;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
