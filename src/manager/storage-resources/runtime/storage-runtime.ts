// The pool master's storage-resource runtime: loads the plugins, opens the resource store on the
// manager's database file, turns its alerts into XenAPI messages and runs the scan daemon.
// master-runtime.ts starts it on whichever host is master and stops it on demotion and at
// Manager.close (daemon first, then the store). Given the XenAPI database (`objects`), it links
// resources to Berth's objects (links/) and each alert's message names the SRs, VDIs and VMs the
// alert affects.
import { logger } from '../../../shared/log.js';
import type { AgentFeed } from '../agent-feed/feed.js';
import type { AlertEvent } from '../context.js';
import { type AffectedNames, affectedNames } from '../links/affected-names.js';
import { type BerthObjectsDb, berthObjectLinks } from '../links/links.js';
import type { BerthObjectLinks } from '../links/types.js';
import { ResourceStore } from '../store.js';
import { alertMessage, type MessageTarget } from './alert-to-message.js';
import { type LoadedPlugins, loadStoragePlugins } from './load-plugins.js';
import { type DaemonTimers, ScanDaemon } from './scan-daemon.js';
import { storeRoots } from './store-roots.js';

const log = logger('storage-resources');

export interface StorageRuntimeOptions {
  /** berth.db */
  dbPath: string;
  pluginDir: string | null;
  pluginPackages?: string[];
  /** The host or SR a root belongs to, else the pool. */
  targetOf(root: string): MessageTarget;
  /** Creates the XenAPI message (the manager's createMessage). */
  createMessage(name: string, priority: number, target: MessageTarget, body: string): void;
  /** The XenAPI database: alert messages then name what they affect, and `links` is set. */
  objects?: BerthObjectsDb;
  timers?: DaemonTimers;
  scanTimeoutMs?: number;
}

export interface StorageRuntime {
  store: ResourceStore;
  daemon: ScanDaemon;
  plugins: LoadedPlugins;
  /** Resources ↔ SRs, VDIs, VBDs, VMs (when the runtime was given `objects`). */
  links?: BerthObjectLinks;
  /** The hosts' agent device plugins feeding this store (agent-feed/), once attached. */
  readonly agentFeed?: AgentFeed;
  /** Attaches the feed: stop() then ends it before the scan loops and the store. */
  attachAgentFeed(feed: AgentFeed): void;
  stop(): Promise<void>;
}

/**
 * The store's onAlert: one message per raised or lowered alert; a failure is logged, never thrown.
 * `describeAffected` names what the alert's record affects (a failure there only leaves the names out).
 */
export function alertToMessage(
  opts: Pick<StorageRuntimeOptions, 'targetOf' | 'createMessage'> & {
    describeAffected?: (resourceId: number) => AffectedNames;
  },
) {
  return (e: AlertEvent) => {
    let affected: AffectedNames | undefined;
    if (e.resourceId !== null && opts.describeAffected) {
      try {
        affected = opts.describeAffected(e.resourceId);
      } catch (error) {
        log.error('storage alert: affected objects not found', { alert: e.alertId, error: String(error) });
      }
    }
    const m = alertMessage(e, affected);
    try {
      opts.createMessage(m.name, m.priority, opts.targetOf(e.root), m.body);
    } catch (error) {
      log.error('storage alert message not created', {
        root: e.root,
        alert: e.alertId,
        error: String(error),
      });
    }
  };
}

export async function startStorageRuntime(opts: StorageRuntimeOptions): Promise<StorageRuntime> {
  const plugins = await loadStoragePlugins({ dir: opts.pluginDir, packages: opts.pluginPackages });
  const { objects } = opts;
  const describeAffected =
    objects && ((id: number): AffectedNames => affectedNames(links!.affectedBy(id), objects));
  const store = new ResourceStore({
    path: opts.dbPath,
    onAlert: alertToMessage({ ...opts, describeAffected }),
  });
  // Alerts only come from calls made after this (the daemon starts below).
  const links: BerthObjectLinks | undefined = objects && berthObjectLinks(store.queries, objects);
  const daemon = new ScanDaemon({
    sink: store,
    listRoots: () =>
      storeRoots({
        queries: store.queries,
        plugins: plugins.loader.plugins.values(),
        classes: plugins.classes,
        sink: store,
      }),
    timers: opts.timers,
    scanTimeoutMs: opts.scanTimeoutMs,
    log: (msg, fields) => log.warn(msg, fields),
  });
  await daemon.start();
  let agentFeed: AgentFeed | undefined;
  return {
    store,
    daemon,
    plugins,
    links,
    get agentFeed() {
      return agentFeed;
    },
    attachAgentFeed(feed) {
      agentFeed = feed;
    },
    async stop() {
      await agentFeed?.stop();
      await daemon.stop();
      store.close();
    },
  };
}
