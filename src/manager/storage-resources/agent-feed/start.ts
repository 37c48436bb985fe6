// The agent feed as the manager starts it on the pool master, beside the storage runtime (the
// store and classes are the runtime's); stopped before the runtime closes the store.
import type { Services } from '../../api/context.js';
import type { StorageRuntime } from '../runtime/storage-runtime.js';
import { AgentFeed, type FeedHost } from './feed.js';
import { agentFeedClasses } from './classes.js';

export interface AgentFeedStartOptions {
  /** Milliseconds between cycles (default 2000); false: no feed. */
  intervalMs?: number;
}

/** The pool's hosts as the feed sees them: uuid, name, and the agent when it is connected. */
export function poolHosts(svc: Pick<Services, 'db' | 'hosts'>): FeedHost[] {
  return [...svc.db.all('host')].map(([ref, row]) => ({
    uuid: String(row.uuid),
    name: String(row.name_label ?? ''),
    agent: svc.hosts.live(ref) ? svc.hosts.peek(ref)?.devicePlugins : undefined,
  }));
}

export function startAgentFeed(
  svc: Pick<Services, 'db' | 'hosts'>,
  runtime: Pick<StorageRuntime, 'store' | 'plugins'>,
  opts: AgentFeedStartOptions = {},
): AgentFeed {
  return new AgentFeed({
    store: runtime.store,
    classes: agentFeedClasses(runtime.plugins.classes),
    hosts: () => poolHosts(svc),
    intervalMs: opts.intervalMs,
  });
}
