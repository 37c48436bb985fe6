// Loads storage plugins and checks them as IML's manager and `validate_storage_plugin` do
// (reference §1, §11): a module (file or package directory; ESM .mjs/.js, or .ts when the process
// runs under tsx) exporting `version` equal to the API version and exactly one Plugin subclass;
// its resource classes are the resource classes it exports (or the plugin's static
// `resourceClasses`), each with an identifier. describeClasses() gives the store what it needs,
// with Provide relations resolved into Subscribes on their targets.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LINUX_PLUGIN, LINUX_RESOURCE_CLASSES } from './api/linux-resources.js';
import { apiVersion, isPluginClass, type PluginClass } from './api/plugin.js';
import { pyStr } from './api/py-format.js';
import type { Relation } from './api/relations.js';
import {
  type AnyResourceClass,
  type AttributeMap,
  classPlugin,
  isResourceClass,
  isSubclass,
  ResourceProgrammingError,
  type StatisticMap,
  setClassPlugin,
} from './api/resource.js';
import type { ResourceClassInfo } from './session.js';
import {
  checkJavaScriptSyntax,
  formatSyntaxError,
  locateTransformError,
  type SyntaxErrorLocation,
} from './syntax-check.js';

export interface LoadedPlugin {
  /** The module name: file name without extension, or the package directory's name. */
  name: string;
  /** The file imported. */
  entry: string;
  pluginClass: PluginClass;
  resourceClasses: AnyResourceClass[];
  internal: boolean;
}

export class PluginLoadError extends Error {
  constructor(
    readonly plugin: string,
    readonly errors: string[],
  ) {
    super(`Storage plugin ${plugin}: ${errors.join('; ')}`);
    this.name = 'PluginLoadError';
  }
}

export function missingVersionMessage(): string {
  return 'Add version=<int> to your plugin module. Consult Comand Center documentation for API version supported.';
}

export function versionMismatchMessage(declared: unknown, supported: number): string {
  return `The plugin declares version ${pyStr(declared)}. However, this manager server version supports version ${supported} of the Plugin API.`;
}

const ENTRY_NAMES = ['index.mjs', 'index.js', 'index.ts'];
const EXTENSIONS = ['.mjs', '.js', '.ts', '.mts'];

/**
 * A configured plugin: a path (file or package directory), else an npm package name resolved from
 * `fromDir` as Node would (`node_modules` upwards); the plugin's name is the package name's last
 * component (`@acme/storage-x` → `storage-x`), as IML's dotted module names.
 */
export function resolvePluginSpecifier(spec: string, fromDir: string): string {
  const asPath = resolve(fromDir, spec);
  if (spec.startsWith('.') || spec.startsWith('/') || existsSync(asPath)) return asPath;
  try {
    return dirname(createRequire(join(fromDir, 'noop.js')).resolve(`${spec}/package.json`));
  } catch {
    throw new Error(`ImportError: No module named ${spec}`);
  }
}

/** The module name and the file to import for a plugin file or package directory. */
export function pluginEntry(path: string): { name: string; entry: string } {
  const full = resolve(path);
  if (!existsSync(full)) throw new Error(`ImportError: No module named ${full}`);
  if (statSync(full).isDirectory()) {
    const pkg = join(full, 'package.json');
    let main: string | undefined;
    if (existsSync(pkg)) main = (JSON.parse(readFileSync(pkg, 'utf8')) as { main?: string }).main;
    const entry = main ? join(full, main) : ENTRY_NAMES.map((n) => join(full, n)).find((f) => existsSync(f));
    if (!entry)
      throw new Error(`ImportError: No module entry (package.json main or index.mjs/js/ts) in ${full}`);
    return { name: basename(full), entry };
  }
  const ext = extname(full);
  return { name: EXTENSIONS.includes(ext) ? basename(full, ext) : basename(full), entry: full };
}

export class PluginLoader {
  readonly plugins = new Map<string, LoadedPlugin>();
  /** Plugins that failed to load, with their errors (IML's errored_plugins). */
  readonly erroredPlugins = new Map<string, string[]>();

  constructor(private readonly supportedVersion = apiVersion) {}

  /** Loads one plugin; throws PluginLoadError with the original's messages. */
  async load(path: string): Promise<LoadedPlugin> {
    let name = basename(path);
    try {
      const { name: n, entry } = pluginEntry(path);
      name = n;
      if (this.plugins.has(name) || this.erroredPlugins.has(name) || name === LINUX_PLUGIN) {
        throw new PluginLoadError(name, [`Duplicate storage plugin module ${name}`]);
      }
      const mod = await importPlugin(entry);
      const loaded = this.#check(name, entry, mod);
      this.plugins.set(name, loaded);
      return loaded;
    } catch (e) {
      const errors = e instanceof PluginLoadError ? e.errors : [(e as Error).message];
      if (!(e instanceof PluginLoadError && errors[0]?.startsWith('Duplicate'))) {
        this.erroredPlugins.set(name, errors);
      }
      throw new PluginLoadError(name, errors);
    }
  }

  #check(name: string, entry: string, mod: Record<string, unknown>): LoadedPlugin {
    if (!('version' in mod)) throw new PluginLoadError(name, [missingVersionMessage()]);
    const v = mod.version;
    if (!Number.isInteger(v) || v !== this.supportedVersion) {
      throw new PluginLoadError(name, [versionMismatchMessage(v, this.supportedVersion)]);
    }
    const pluginClasses = [...new Set(Object.values(mod).filter(isPluginClass))];
    if (pluginClasses.length === 0) {
      throw new PluginLoadError(name, [`Module ${name} does not define a BaseStoragePlugin!`]);
    }
    if (pluginClasses.length > 1) {
      const list = pluginClasses.map((c) => `<class '${name}.${c.name}'>`).join(', ');
      throw new PluginLoadError(name, [`Module ${name} defines more than one BaseStoragePlugin: [${list}]!`]);
    }
    const pluginClass = pluginClasses[0] as PluginClass;
    const declared = pluginClass.resourceClasses ?? Object.values(mod).filter(isResourceClass);
    const byMeta = new Map<object, AnyResourceClass>();
    for (const c of declared) {
      if (!isResourceClass(c))
        throw new PluginLoadError(name, [`resourceClasses: ${pyStr(c)} is not a resource class`]);
      if (c.meta.builtin !== null) continue;
      const owner = classPlugin(c);
      if (owner !== undefined && owner !== name) continue; // imported from another plugin
      if (!byMeta.has(c.meta)) byMeta.set(c.meta, c);
    }
    const errors: string[] = [];
    for (const c of byMeta.values()) {
      if (!c.meta.identifier)
        errors.push(new ResourceProgrammingError(c.meta.name, 'No Meta.identifier').message);
    }
    const names = new Map<string, number>();
    for (const c of byMeta.values()) names.set(c.meta.name, (names.get(c.meta.name) ?? 0) + 1);
    for (const [n, count] of names) {
      if (count > 1) errors.push(new ResourceProgrammingError(n, 'declared more than once').message);
    }
    if (errors.length > 0) throw new PluginLoadError(name, errors);
    for (const c of byMeta.values()) setClassPlugin(c, name);
    return {
      name,
      entry,
      pluginClass,
      resourceClasses: [...byMeta.values()],
      internal: pluginClass.internal === true,
    };
  }

  /** Every loaded class (and the linux plugin's), as the store needs them; throws on unresolvable relations. */
  describeClasses(): ResourceClassInfo[] {
    const { infos, errors } = this.resolveClasses();
    if (errors.length > 0) throw new PluginLoadError([...this.plugins.keys()].join(','), errors);
    return infos;
  }

  /** describeClasses() without throwing: what resolved, and the relation errors. */
  resolveClasses(): { infos: ResourceClassInfo[]; errors: string[] } {
    const all: { plugin: string; cls: AnyResourceClass }[] = LINUX_RESOURCE_CLASSES.map((cls) => ({
      plugin: LINUX_PLUGIN,
      cls: cls as AnyResourceClass,
    }));
    for (const p of this.plugins.values())
      for (const cls of p.resourceClasses) all.push({ plugin: p.name, cls });
    const errors: string[] = [];
    const find = (from: { plugin: string; cls: AnyResourceClass }, r: Relation) => {
      const t = r.target;
      const hit = Array.isArray(t)
        ? all.find((e) => e.plugin === t[0] && e.cls.meta.name === t[1])
        : all.find((e) => e.cls.meta === (t as AnyResourceClass).meta);
      if (!hit) {
        const what = Array.isArray(t) ? `${t[0]}.${t[1]}` : pyStr((t as AnyResourceClass)?.meta?.name ?? t);
        errors.push(
          new ResourceProgrammingError(from.cls.meta.name, `relation to unknown class ${what}`).message,
        );
      }
      return hit;
    };
    const subclassesOf = (cls: AnyResourceClass) => all.filter((e) => isSubclass(e.cls, cls));
    const subscribes = new Map<object, ResourceClassInfo['subscribes']>(all.map((e) => [e.cls.meta, []]));
    const addSubscribe = (
      subscriber: AnyResourceClass,
      to: AnyResourceClass,
      attributes: readonly string[],
      ignorecase: boolean,
    ) => {
      const list = subscribes.get(subscriber.meta)!;
      for (const p of subclassesOf(to)) {
        const entry = {
          to: { plugin: p.plugin, name: p.cls.meta.name },
          attributes: [...attributes],
          ignorecase,
        };
        if (!list.some((s) => JSON.stringify(s) === JSON.stringify(entry))) list.push(entry);
      }
    };
    for (const e of all) {
      for (const r of e.cls.meta.relations) {
        const target = find(e, r);
        if (!target) continue;
        if (r.kind === 'subscribe') {
          addSubscribe(e.cls, target.cls, r.attributes, r.ignorecase);
        } else {
          // IML's manager: a Provide on P to T becomes Subscribe(P) on T and on T's subclasses that
          // declare all the attributes.
          for (const s of subclassesOf(target.cls)) {
            if (r.attributes.every((a) => a in s.cls.meta.attributes)) {
              addSubscribe(s.cls, e.cls, r.attributes, r.ignorecase);
            }
          }
        }
      }
    }
    const infos = all.map(({ plugin, cls }) => classInfo(plugin, cls, subscribes.get(cls.meta)!));
    return { infos, errors };
  }
}

/** The ResourceClassInfo of one class (relations already resolved). */
export function classInfo(
  plugin: string,
  cls: AnyResourceClass,
  subscribes: ResourceClassInfo['subscribes'],
): ResourceClassInfo {
  const m = cls.meta;
  // By the built-in names along the base chain, not instanceof: a plugin bundling its own copy of
  // the API still derives from "ScannableResource".
  const chain: string[] = [];
  for (let b: AnyResourceClass | null = cls; b; b = b.meta.base)
    if (b.meta.builtin) chain.push(b.meta.builtin);
  const builtin = chain.find((n) => n !== 'Resource');
  const info: ResourceClassInfo = {
    plugin,
    name: m.name,
    label: m.label,
    identifier: { kind: m.identifier?.kind ?? 'global', attributes: [...(m.identifier?.attributes ?? [])] },
    attributes: Object.fromEntries(
      Object.entries(m.attributes as AttributeMap).map(([k, a]) => [k, a.info(k)]),
    ),
    alertClasses: m.alertClasses.map((a) => ({ ...a })),
    subscribes,
    statistics: Object.fromEntries(
      Object.entries(m.statistics as StatisticMap).map(([k, s]) => [k, s.info()]),
    ),
    scannable: chain.includes('ScannableResource'),
  };
  if (builtin) info.builtin = builtin;
  if (m.charts.length > 0) info.charts = m.charts.map((c) => ({ title: c.title, series: [...c.series] }));
  return info;
}

async function importPlugin(entry: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(await importErrorMessage(entry, e as Error & { code?: string }));
  }
}

/** The validator's text for an import failure. */
async function importErrorMessage(entry: string, e: Error & { code?: string }): Promise<string> {
  if (e instanceof ResourceProgrammingError || e?.name === 'ResourceProgrammingError') return e.message;
  if (e?.code === 'ERR_UNKNOWN_FILE_EXTENSION') {
    return `ImportError: ${entry}: a TypeScript plugin loads only under tsx; compile it to .mjs`;
  }
  if (e?.name === 'TransformError') {
    const loc = locateTransformError(e.message);
    if (loc) return formatSyntaxError(loc);
  }
  if (e instanceof SyntaxError || e?.name === 'SyntaxError') {
    const loc = await locateJavaScriptSyntaxError(entry);
    if (loc) return formatSyntaxError(loc);
    return `SyntaxError: ${entry}: ${e.message}`;
  }
  const kind = !e?.name || e.name === 'Error' || e.name === 'TypeError' ? 'ImportError' : e.name;
  return `${kind}: ${e?.message ?? pyStr(e)}`;
}

/** The entry first, then the package's other JavaScript files (the error may be in an import). */
async function locateJavaScriptSyntaxError(entry: string): Promise<SyntaxErrorLocation | null> {
  const candidates = [entry];
  const dir = resolve(entry, '..');
  try {
    for (const f of readdirSync(dir)) if (/\.(m?js)$/.test(f)) candidates.push(join(dir, f));
  } catch {}
  for (const f of [...new Set(candidates)]) {
    if (!/\.(m?js|cjs)$/.test(f)) continue;
    const loc = await checkJavaScriptSyntax(f);
    if (loc) return loc;
  }
  return null;
}

/** IML's validate_storage_plugin: the errors of loading `path` in a fresh loader ([] when fine). */
export async function validatePlugin(path: string): Promise<{ name: string; errors: string[] }> {
  const loader = new PluginLoader();
  let name = basename(path);
  try {
    name = pluginEntry(path).name;
  } catch {}
  try {
    await loader.load(path);
  } catch (e) {
    return { name, errors: e instanceof PluginLoadError ? e.errors : [(e as Error).message] };
  }
  return { name, errors: loader.resolveClasses().errors };
}
