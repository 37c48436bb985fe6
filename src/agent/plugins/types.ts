// Shapes shared by the plugin host and the built-in plugins.
import type { RunOptions, RunResult } from '../../shared/exec.js';
import type { Logger } from '../../shared/log.js';
import type { PluginArgs } from './args.js';
import type { LockTable } from './locks.js';

/** Runs one command (same contract as shared/exec.ts `run`); injectable so tests can replay outputs. */
export type CommandRunner = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

export type PackageManagerKind = 'apt' | 'dnf' | 'yum';

export interface PluginConfig {
  /** Directory of administrator-supplied executable plugins. */
  pluginDir: string;
  /** Wall-clock limit for one executable plugin call. */
  externalTimeoutMs: number;
  /** Limit for ordinary host commands (lvm, lsblk, smartctl, ...). */
  commandTimeoutMs: number;
  /** Limit for package installs and updates. */
  packageTimeoutMs: number;
  /** How long update/install wait for the updater's operation lock (upstream: 10 s). */
  updaterLockWaitMs: number;
  /** Package manager; undefined = detect from the host. */
  packageManager?: PackageManagerKind;
  /** Run `apt-get update` / let dnf refresh metadata before check_update. */
  refreshPackageLists: boolean;
  /** Extra environment for apt tools (tests point APT_CONFIG at a private configuration). */
  aptEnv: Record<string, string>;
  /** File Berth writes apt proxy settings to; undefined = <Dir::Etc::parts>/80berth-proxy. */
  aptProxyFile?: string;
  /** The yum/dnf repository file whose sections get_proxies/set_proxies manage. */
  yumRepoFile: string;
  /** yum/dnf repositories update and check_update use; null = every enabled repository. */
  yumDefaultRepos: readonly string[] | null;
  /** netdata streaming configuration. */
  netdataStreamConf: string;
}

export interface PluginContext {
  readonly run: CommandRunner;
  readonly config: PluginConfig;
  readonly locks: LockTable;
  readonly log: Logger;
}

export type PluginFunction = (args: PluginArgs, ctx: PluginContext) => Promise<string>;

export interface BuiltinPlugin {
  /** Name without the `.py` suffix, e.g. `lvm`. */
  readonly name: string;
  readonly functions: ReadonlyMap<string, PluginFunction>;
}

export const definePlugin = (name: string, functions: Record<string, PluginFunction>): BuiltinPlugin => ({
  name,
  functions: new Map(Object.entries(functions)),
});
