// Loads the manager's storage plugins at start: every module or package directory in the
// configured plugin directory, then the listed npm package names, each through the loader's
// validation. A plugin that fails is logged, listed in `errored` (what the API can show) and
// skipped: it never stops the manager. Relation errors between loaded plugins are listed too.
import { existsSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { logger } from '../../../shared/log.js';
import {
  PluginLoader,
  PluginLoadError,
  resolvePluginSpecifier,
} from '../../../shared/storage-resources/loader.js';
import type { ResourceClassInfo } from '../../../shared/storage-resources/session.js';

const log = logger('storage-plugins');

const MODULE_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

export interface LoadedPlugins {
  loader: PluginLoader;
  /** Every loaded class, resolved (linux's included), for session opens and the store. */
  classes: ResourceClassInfo[];
  /** Plugin (or `relations`) → its errors. */
  errored: Map<string, string[]>;
}

/** The entries of `dir` that can be plugins: modules (not .d.ts, not hidden) and directories. */
export function pluginPaths(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.') && !e.name.startsWith('_'))
    .filter((e) => e.isDirectory() || (MODULE_EXTENSIONS.has(extname(e.name)) && !e.name.endsWith('.d.ts')))
    .map((e) => join(dir, e.name))
    .sort();
}

export async function loadStoragePlugins(opts: {
  dir: string | null;
  packages?: string[];
  /** Where package names resolve from (default: the process's working directory). */
  resolveFrom?: string;
}): Promise<LoadedPlugins> {
  const loader = new PluginLoader();
  const errored = new Map<string, string[]>();
  const paths = opts.dir ? pluginPaths(opts.dir) : [];
  const specs = [...paths, ...(opts.packages ?? []).map((p) => ({ spec: p }))];
  for (const s of specs) {
    const label = typeof s === 'string' ? s : s.spec;
    try {
      const path =
        typeof s === 'string' ? s : resolvePluginSpecifier(s.spec, opts.resolveFrom ?? process.cwd());
      const p = await loader.load(path);
      log.info('storage plugin loaded', { plugin: p.name, entry: p.entry });
    } catch (e) {
      const name = e instanceof PluginLoadError ? e.plugin : label;
      const errors = e instanceof PluginLoadError ? e.errors : [(e as Error).message];
      errored.set(name, errors);
      log.error('storage plugin skipped', { plugin: name, path: label, errors });
    }
  }
  const { infos, errors } = loader.resolveClasses();
  if (errors.length > 0) {
    errored.set('relations', errors);
    log.error('storage plugin relations unresolved', { errors });
  }
  return { loader, classes: infos, errored };
}
