// The scan daemon's roots from the store: every root record whose class is a scannable class of a
// loaded controller plugin and that has no parents (reference §12: "scannable resources with no
// parents"). Each becomes a ScanRoot whose plugin instances report into `sink`.
import type { Plugin, PluginContext } from '../../../shared/storage-resources/api/plugin.js';
import type { AnyResourceClass } from '../../../shared/storage-resources/api/resource.js';
import type { LoadedPlugin } from '../../../shared/storage-resources/loader.js';
import type { ResourceClassInfo, ResourceSessionSink } from '../../../shared/storage-resources/session.js';
import type { ResourceQueries } from '../queries.js';
import type { ScanRoot } from './scan-daemon.js';

type PluginConstructor = new (ctx: PluginContext) => Plugin;

export function storeRoots(opts: {
  queries: Pick<ResourceQueries, 'roots' | 'rootRecord' | 'resource' | 'parents'>;
  plugins: Iterable<LoadedPlugin>;
  classes: ResourceClassInfo[];
  sink: ResourceSessionSink;
}): ScanRoot[] {
  const scannable = new Map<string, { plugin: LoadedPlugin; cls: AnyResourceClass }>();
  const scannableNames = new Set(opts.classes.filter((c) => c.scannable).map((c) => `${c.plugin}.${c.name}`));
  for (const plugin of opts.plugins) {
    if (plugin.internal) continue;
    for (const cls of plugin.resourceClasses) {
      const key = `${plugin.name}.${cls.meta.name}`;
      if (scannableNames.has(key)) scannable.set(key, { plugin, cls });
    }
  }
  const out: ScanRoot[] = [];
  for (const root of opts.queries.roots()) {
    const id = opts.queries.rootRecord(root);
    if (id === undefined || opts.queries.parents(id).length > 0) continue;
    const view = opts.queries.resource(id);
    const found = view && scannable.get(view.class);
    if (!view || !found) continue;
    // A root's own attributes are plain values (references point below it, never from it).
    const attrs = Object.fromEntries(
      Object.entries(view.attributes).filter(([, v]) => v === null || typeof v !== 'object'),
    );
    const Cls = found.cls as unknown as new (a: Record<string, unknown>) => PluginContext['rootResource'];
    const PluginClass = found.plugin.pluginClass as unknown as PluginConstructor;
    out.push({
      root,
      key: JSON.stringify(attrs),
      createPlugin: () =>
        new PluginClass({
          sink: opts.sink,
          root,
          rootResource: new Cls(attrs),
          classes: opts.classes,
          pluginName: found.plugin.name,
        }),
    });
  }
  return out;
}
