// updater.py: package updates through the host's package manager (apt on Debian hosts,
// dnf/yum on RPM hosts) and the proxies that manager uses. update/install/check_update and the
// proxy functions hold the updater's operation lock, as upstream.
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type PluginArgs, jsonArg, optional } from '../args.js';
import { command } from '../command.js';
import { PluginFailure } from '../failure.js';
import { type PluginContext, definePlugin } from '../types.js';
import {
  effectiveProxies,
  hostsOf,
  parseAptConfigDump,
  parseAptConfigShell,
  parseManagedFile,
  readSources,
  renderManagedFile,
} from './apt-proxies.js';
import {
  applyPackages,
  checkUpdates,
  detectPackageManager,
  queryInstalled,
  splitPackages,
} from './package-manager.js';
import { NO_PROXY, parseProxiesArg } from './proxy-value.js';
import { getYumProxies, setYumProxies } from './yum-proxies.js';

/** Extra repositories ("a, b") for yum/dnf; apt has no per-call repository choice. */
const reposArg = (args: PluginArgs) =>
  (optional(args, 'repos') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const locked = (ctx: PluginContext, op: string, waitMs: number, fn: () => Promise<string>) =>
  ctx.locks.updater.with(op, waitMs, fn);

/** Replaces a file atomically, keeping its mode. */
async function replaceFile(path: string, text: string): Promise<void> {
  const mode = await stat(path).then(
    (s) => s.mode & 0o7777,
    () => 0o644,
  );
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.berth-tmp`);
  await writeFile(tmp, text, { mode });
  await rename(tmp, path);
}

// --- apt proxies ---------------------------------------------------------------------------

interface AptProxyState {
  hosts: Map<string, string[]>;
  effective: Record<string, string>;
  file: string;
}

async function aptProxyState(ctx: PluginContext): Promise<AptProxyState> {
  const env = ctx.config.aptEnv;
  const shell = await command(
    ctx,
    [
      'apt-config',
      'shell',
      'LIST',
      'Dir::Etc::sourcelist/f',
      'PARTS',
      'Dir::Etc::sourceparts/d',
      'CONF',
      'Dir::Etc::parts/d',
    ],
    { env },
  );
  const dirs = parseAptConfigShell(shell.stdout);
  const dump = parseAptConfigDump((await command(ctx, ['apt-config', 'dump'], { env })).stdout);
  const hosts = hostsOf(await readSources(dirs.get('LIST') ?? '', dirs.get('PARTS') ?? ''));
  const file = ctx.config.aptProxyFile ?? join(dirs.get('CONF') ?? '/etc/apt/apt.conf.d', '80berth-proxy');
  return { hosts, effective: effectiveProxies(hosts, dump), file };
}

async function setAptProxies(ctx: PluginContext, proxies: Record<string, string>): Promise<void> {
  const state = await aptProxyState(ctx);
  const existing = await readFile(state.file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  const entries = parseManagedFile(existing);
  let changed = false;
  for (const [host, proxy] of Object.entries(proxies)) {
    const schemes = state.hosts.get(host);
    if (!schemes) throw new PluginFailure('-1', `Can't find section '${host}' in config file`);
    if (state.effective[host] === proxy) continue;
    for (const scheme of schemes) entries.set(`${scheme} ${host}`, proxy === NO_PROXY ? 'DIRECT' : proxy);
    changed = true;
  }
  if (changed) await replaceFile(state.file, renderManagedFile(entries));
}

// --- functions -----------------------------------------------------------------------------

async function update(args: PluginArgs, ctx: PluginContext, action: 'update' | 'install'): Promise<string> {
  const packages = splitPackages(optional(args, 'packages'));
  if (action === 'install' && packages.length === 0) {
    throw new PluginFailure('-1', 'Missing or empty argument `packages`');
  }
  const repos = reposArg(args);
  return locked(ctx, action, ctx.config.updaterLockWaitMs, async () =>
    JSON.stringify(await applyPackages(ctx, action, packages, repos)),
  );
}

export const updater = definePlugin('updater', {
  check_update(args, ctx) {
    const repos = reposArg(args);
    return locked(ctx, 'check_update', 0, async () =>
      JSON.stringify({ result: await checkUpdates(ctx, repos) }),
    );
  },

  update: (args, ctx) => update(args, ctx, 'update'),

  install: (args, ctx) => update(args, ctx, 'install'),

  async query_installed(args, ctx) {
    const packages = splitPackages(optional(args, 'packages'));
    return JSON.stringify(await queryInstalled(ctx, packages));
  },

  get_proxies(_args, ctx) {
    return locked(ctx, 'get_proxies', 0, async () => {
      // An unreadable configuration gives an empty map.
      try {
        if ((await detectPackageManager(ctx)) === 'apt')
          return JSON.stringify((await aptProxyState(ctx)).effective);
        return JSON.stringify(getYumProxies(await readFile(ctx.config.yumRepoFile, 'utf8')));
      } catch (e) {
        ctx.log.warn('get_proxies: configuration unreadable', { error: (e as Error).message });
        return '{}';
      }
    });
  },

  set_proxies(args, ctx) {
    const proxies = parseProxiesArg(jsonArg(args, 'proxies'));
    return locked(ctx, 'set_proxies', 0, async () => {
      if ((await detectPackageManager(ctx)) === 'apt') {
        await setAptProxies(ctx, proxies);
        return '';
      }
      const path = ctx.config.yumRepoFile;
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch {
        throw new PluginFailure('-1', `could not read file ${path}`);
      }
      const next = setYumProxies(text, proxies);
      if (next !== text) await replaceFile(path, next);
      return '';
    });
  },
});
