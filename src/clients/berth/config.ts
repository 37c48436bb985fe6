// `berth` settings: the ini file (`$BERTHCONFIG`, else ~/.config/berth/berth.ini) under the
// command line, as oVirtCmd's Context: CLI > `[api]` value > built-in default, and oVirtCmd's
// authentication rules and configuration errors (exit 253).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { usageError } from './errors.js';

/** The global options as parsed from the command line (keys are the options' long names). */
export interface GlobalOptions {
  config?: string;
  debug?: boolean;
  passwordfile?: string;
  username?: string;
  kerberos?: boolean;
  output?: string;
  url?: string;
  'ca-file'?: string;
  insecure?: boolean;
}

export interface Settings {
  /** The manager's URL; absent when connecting over the local socket. */
  url?: string;
  /** The local Unix socket (root without password), used when no url is configured. */
  socketPath?: string;
  username?: string;
  password?: string;
  caFile?: string;
  insecure: boolean;
  debug: boolean;
  kerberos: boolean;
  /** `[logging] filters`: which debug categories are printed (text, header, data). */
  logFilters: string[];
  keytab?: string;
  ccache?: string;
  principal?: string;
}

/** xapi's local socket path (Berth's manager links it to its own socket), then Berth's own. */
export const LOCAL_SOCKETS = ['/var/lib/xcp/xapi', '/run/berth/xapi.sock'];

type Ini = Record<string, Record<string, unknown> | undefined>;

/** Where the ini file is, and whether the user named it (a missing named file is an error). */
export function configPath(cli: GlobalOptions, env: NodeJS.ProcessEnv): { path: string; explicit: boolean } {
  if (cli.config) return { path: cli.config, explicit: true };
  if (env.BERTHCONFIG) return { path: env.BERTHCONFIG, explicit: true };
  return { path: join(env.HOME ?? '', '.config', 'berth', 'berth.ini'), explicit: false };
}

export function readIni(path: string, explicit: boolean): Ini {
  if (!existsSync(path)) {
    if (explicit) throw usageError(`configuration file not found: ${path}`);
    return {};
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw usageError(`cannot read configuration file ${path}: ${(e as Error).message}`);
  }
  // Required only when a file exists, and as CommonJS (what `ini` is): no ESM wrapper to analyse
  // at start-up (bench:cli measures it).
  const { parse } = createRequire(import.meta.url)('ini') as typeof import('ini');
  return parse(text) as Ini;
}

/** Python's configparser booleans (1/yes/true/on, 0/no/false/off), as oVirtCmd reads them. */
export function iniBoolean(value: unknown, where: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  const v = String(value).trim().toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  throw usageError(`${where}: not a boolean: ${String(value)}`);
}

function iniString(section: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = section?.[key];
  return v === undefined || v === '' || v === true ? undefined : String(v);
}

/** The password file's content; one trailing newline (`echo pw > file`) is not part of it. */
export function readPasswordFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw usageError(
      `cannot read password file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/**
 * Settings from the command line over the ini file over defaults, checked with oVirtCmd's rules:
 * user or password file with -k is an error; an explicit user turns Kerberos off and an explicit
 * -k drops the configured user/password. `socketExists` is injected so tests choose.
 */
export function resolveSettings(
  cli: GlobalOptions,
  ini: Ini,
  socketExists: (path: string) => boolean = existsSync,
  env: NodeJS.ProcessEnv = process.env,
): Settings {
  const api = ini.api;
  const krb = ini.kerberos;
  if ((cli.username !== undefined || cli.passwordfile !== undefined) && cli.kerberos)
    throw usageError('both kerberos and login/password authentication');
  const settings: Settings = {
    url: cli.url ?? iniString(api, 'url'),
    username: cli.username ?? iniString(api, 'username'),
    // An empty `password =` is a password (the local socket's root has none).
    password:
      cli.passwordfile !== undefined
        ? readPasswordFile(cli.passwordfile)
        : api?.password === undefined || api.password === true
          ? undefined
          : String(api.password),
    caFile: cli['ca-file'] ?? iniString(api, 'ca_file'),
    insecure: cli.insecure ?? iniBoolean(api?.insecure, '[api] insecure') ?? false,
    debug: cli.debug ?? iniBoolean(api?.debug, '[api] debug') ?? false,
    kerberos: cli.kerberos ?? iniBoolean(api?.kerberos, '[api] kerberos') ?? false,
    logFilters: (iniString(ini.logging, 'filters') ?? 'text')
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean),
    keytab: iniString(krb, 'keytab'),
    ccache: iniString(krb, 'ccache'),
    principal: iniString(krb, 'principal'),
  };
  if (cli.username !== undefined) settings.kerberos = false;
  if (cli.kerberos) {
    settings.username = undefined;
    settings.password = undefined;
  }
  if (settings.url === undefined) {
    // No url: on a host, the local socket as root without password (as `xe` there).
    const candidates = env.BERTH_XAPI_SOCKET ? [env.BERTH_XAPI_SOCKET] : LOCAL_SOCKETS;
    const socket = candidates.find((p) => socketExists(p));
    if (!socket || settings.kerberos) throw usageError('incomplete configuration, Berth url not found');
    settings.socketPath = socket;
    settings.username ??= 'root';
    settings.password ??= '';
    return settings;
  }
  if (!/^https?:\/\//.test(settings.url))
    throw usageError(`invalid url (http:// or https://): ${settings.url}`);
  if (settings.username === undefined && !settings.kerberos)
    throw usageError('not enough authentication information');
  if (settings.username !== undefined && !settings.kerberos && settings.password === undefined)
    throw usageError(`no password for user ${settings.username} (give --passwordfile or [api] password)`);
  return settings;
}

/** Reads the ini file the options name and resolves the settings. */
export function loadSettings(cli: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Settings {
  const { path, explicit } = configPath(cli, env);
  return resolveSettings(cli, readIni(path, explicit), existsSync, env);
}
