// The pool master's side of agent device plugins (IML's AgentPluginHandler, reference §13): every
// cycle (2 s) it takes each connected host agent's queued messages and applies the original's
// rules, feeding one store session per (host, plugin) root (roots.ts):
//
//   SESSION_CREATE_REQUEST → a new session id, answered with device_plugin_session_create;
//   DATA of a session id the master did not issue last, or seq ≠ previous + 1 → the master's
//     session ends and the agent's is terminated (it requests a new one);
//   DATA seq 0 → a new plugin instance: agentSessionStart, then the store session opens with
//     everything reported (culling applies); later seq → agentSessionContinue + commit;
//   an exception applying DATA, or SESSION_TERMINATE from the agent (its plugin failed) → the
//     session ends with the root's offline alert; the agent is told to terminate (it re-requests);
//   an agent that cannot be reached → its sessions end with the offline alert (lowered by the
//     first update of the next session);
//   a host gone from the pool (host.destroy, pool.eject) → its roots are deleted (store.removeRoot).
import { randomUUID } from 'node:crypto';
import type { DevicePluginMessage, DevicePluginProcedures } from '../../../shared/host/device-plugins.js';
import { logger } from '../../../shared/log.js';
import type { Plugin, PluginContext } from '../../../shared/storage-resources/api/plugin.js';
import { LINUX_PLUGIN, PluginAgentResources } from '../../../shared/storage-resources/api/linux-resources.js';
import type { ResourceClassInfo } from '../../../shared/storage-resources/session.js';
import type { ResourceStore } from '../store.js';
import { LinuxAgentPlugin } from './linux-agent-plugin.js';
import { agentRoot, hostIdOf, parseAgentRoot } from './roots.js';

const log = logger('agent-feed');

export const DEFAULT_FEED_INTERVAL_MS = 2000;

export interface FeedHost {
  uuid: string;
  name: string;
  /** The host's agent, when connected now. */
  agent: DevicePluginProcedures | undefined;
}

export type AgentPluginClass = new (ctx: PluginContext) => Plugin;

export interface AgentFeedOptions {
  store: Pick<
    ResourceStore,
    | 'sessionOffline'
    | 'removeRoot'
    | 'setAlias'
    | 'queries'
    | keyof import('../../../shared/storage-resources/session.js').ResourceSessionSink
  >;
  classes: ResourceClassInfo[];
  /** The pool's hosts now. */
  hosts(): FeedHost[];
  /** Manager-side plugins by name (default: the built-in linux one). */
  plugins?: ReadonlyMap<string, AgentPluginClass>;
  intervalMs?: number;
  /** false: no timer (tests call cycle()). */
  timer?: boolean;
  newSessionId?: () => string;
}

interface FeedSession {
  id: string;
  seq: number;
  plugin: Plugin;
}

export class AgentFeed {
  /** The session id last issued per root (a DATA of any other id is unknown). */
  readonly #issued = new Map<string, string>();
  readonly #sessions = new Map<string, FeedSession>();
  readonly #plugins: ReadonlyMap<string, AgentPluginClass>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;
  /** Messages applied, sessions reset (diagnostics and tests). */
  readonly counters = { messages: 0, resets: 0, failures: 0 };

  constructor(private readonly opts: AgentFeedOptions) {
    this.#plugins = opts.plugins ?? new Map([[LINUX_PLUGIN, LinuxAgentPlugin as AgentPluginClass]]);
    if (opts.timer !== false) this.#schedule(0);
  }

  /** Roots with a session open now, and each session's id and last seq. */
  sessions(): Map<string, { id: string; seq: number }> {
    return new Map([...this.#sessions].map(([r, s]) => [r, { id: s.id, seq: s.seq }]));
  }

  /** One pass over every host: take, apply; unreachable hosts' sessions end; removed hosts' roots go. */
  cycle(): Promise<void> {
    this.#running ??= this.#cycle().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
    for (const [root, s] of [...this.#sessions]) {
      this.#sessions.delete(root);
      await this.#teardown(root, s);
    }
  }

  #schedule(ms: number) {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.cycle()
        .catch((e) => log.error('agent feed cycle failed', { error: String(e) }))
        .finally(() => this.#schedule(this.opts.intervalMs ?? DEFAULT_FEED_INTERVAL_MS));
    }, ms);
    this.#timer.unref();
  }

  async #cycle(): Promise<void> {
    const hosts = this.opts.hosts();
    for (const host of hosts) {
      if (this.#stopped) return;
      if (!host.agent) {
        await this.#lostHost(host.uuid, 'host agent not reachable');
        continue;
      }
      let messages: DevicePluginMessage[];
      try {
        messages = await host.agent.device_plugin_take();
        if (!Array.isArray(messages)) throw new Error('device_plugin_take did not answer a list');
      } catch (e) {
        await this.#lostHost(host.uuid, `host agent not reachable: ${e instanceof Error ? e.message : e}`);
        continue;
      }
      for (const m of messages) await this.#apply(host, m);
    }
    await this.#removeGoneHosts(new Set(hosts.map((h) => h.uuid)));
  }

  async #apply(host: FeedHost, m: DevicePluginMessage): Promise<void> {
    this.counters.messages += 1;
    if (!m || typeof m !== 'object' || typeof m.plugin !== 'string') return;
    const PluginClass = this.#plugins.get(m.plugin);
    if (!PluginClass) {
      log.debug('message of a plugin the master does not run', { host: host.uuid, plugin: m.plugin });
      return;
    }
    const root = agentRoot(host.uuid, m.plugin);
    const agent = host.agent!;
    switch (m.type) {
      case 'SESSION_CREATE_REQUEST': {
        const id = (this.opts.newSessionId ?? randomUUID)();
        this.#issued.set(root, id);
        await this.#end(root);
        await agent.device_plugin_session_create(m.plugin, id).catch((e) => {
          log.warn('device plugin session not created', { root, error: String(e) });
        });
        return;
      }
      case 'SESSION_TERMINATE': {
        if (this.#sessions.get(root)?.id !== m.session_id) return;
        this.#issued.delete(root);
        await this.#end(root);
        await this.opts.store.sessionOffline(root, 'device plugin failed on its host');
        return;
      }
      case 'DATA':
        return this.#data(host, root, PluginClass, m);
    }
  }

  async #data(host: FeedHost, root: string, PluginClass: AgentPluginClass, m: DevicePluginMessage) {
    const id = m.session_id;
    const seq = m.session_seq;
    if (typeof id !== 'string' || !Number.isSafeInteger(seq) || this.#issued.get(root) !== id) {
      // Not a session this master issued (last): the agent must start over.
      return this.#reset(host, root, m.plugin, id);
    }
    const s = this.#sessions.get(root);
    if (seq === 0) {
      await this.#end(root);
      try {
        const plugin = this.#newPlugin(PluginClass, host, root, m.plugin);
        await plugin.doAgentSessionStart(m.body);
        this.#sessions.set(root, { id, seq: 0, plugin });
        await this.#nameRoot(root, host, m.plugin);
      } catch (e) {
        await this.#fail(host, root, m.plugin, id, e);
      }
      return;
    }
    if (!s || s.id !== id || seq !== s.seq + 1) return this.#reset(host, root, m.plugin, id);
    try {
      await s.plugin.doAgentSessionContinue(m.body);
      s.seq = seq as number;
      await this.#cullVanished(root, s, PluginClass, host, m.plugin);
    } catch (e) {
      await this.#fail(host, root, m.plugin, id, e);
    }
  }

  /**
   * Resources a continue no longer reported are culled as at a session start: a fresh instance
   * opens the session again with the merged body (the store deletes what it lacks).
   */
  async #cullVanished(
    root: string,
    s: FeedSession,
    PluginClass: AgentPluginClass,
    host: FeedHost,
    name: string,
  ) {
    const old = s.plugin as Plugin & { vanished?: unknown[]; lastBody?: unknown };
    if (!old.vanished || old.vanished.length === 0) return;
    const plugin = this.#newPlugin(PluginClass, host, root, name);
    await old.doTeardown();
    await plugin.doAgentSessionStart(old.lastBody);
    s.plugin = plugin;
  }

  async #reset(host: FeedHost, root: string, plugin: string, id: string | null) {
    this.counters.resets += 1;
    if (this.#sessions.get(root)?.id === id) {
      this.#issued.delete(root);
      await this.#end(root);
    }
    await host.agent?.device_plugin_session_terminate(plugin, id).catch((e) => {
      log.warn('device plugin session not terminated', { root, error: String(e) });
    });
  }

  async #fail(host: FeedHost, root: string, plugin: string, id: string, e: unknown) {
    this.counters.failures += 1;
    const reason = e instanceof Error ? e.message : String(e);
    log.warn('agent plugin data not applied', { root, error: reason });
    this.#issued.delete(root);
    await this.#end(root);
    await this.opts.store.sessionOffline(root, reason).catch(() => undefined);
    await host.agent?.device_plugin_session_terminate(plugin, id).catch(() => undefined);
  }

  /** The agent is gone: its sessions end, their roots go offline. */
  async #lostHost(hostUuid: string, reason: string) {
    for (const root of [...this.#sessions.keys()]) {
      if (parseAgentRoot(root)?.hostUuid !== hostUuid) continue;
      this.#issued.delete(root);
      await this.#end(root);
      await this.opts.store.sessionOffline(root, reason).catch(() => undefined);
    }
  }

  async #removeGoneHosts(present: Set<string>) {
    for (const root of this.opts.store.queries.roots()) {
      const parsed = parseAgentRoot(root);
      if (!parsed || present.has(parsed.hostUuid)) continue;
      this.#issued.delete(root);
      await this.#end(root);
      await this.opts.store.removeRoot(root);
      log.info('resources of a host gone from the pool removed', { root });
    }
  }

  async #end(root: string) {
    const s = this.#sessions.get(root);
    if (!s) return;
    this.#sessions.delete(root);
    await this.#teardown(root, s);
  }

  async #teardown(root: string, s: FeedSession) {
    await s.plugin
      .doTeardown()
      .catch((e) => log.warn('agent plugin teardown failed', { root, error: String(e) }));
  }

  #newPlugin(PluginClass: AgentPluginClass, host: FeedHost, root: string, name: string): Plugin {
    return new PluginClass({
      sink: this.opts.store,
      root,
      rootResource: new PluginAgentResources({ host_id: hostIdOf(host.uuid), plugin_name: name }),
      classes: this.opts.classes,
      pluginName: name,
    });
  }

  /** The root is named after its host in alerts ("linux plugin on host1 not contactable"), unless a user named it. */
  async #nameRoot(root: string, host: FeedHost, plugin: string) {
    const id = this.opts.store.queries.rootRecord(root);
    if (id === undefined || this.opts.store.queries.resource(id)?.alias) return;
    await this.opts.store.setAlias(id, `${plugin} plugin on ${host.name || host.uuid}`);
  }
}
