// The master's side of pool membership: a client of every member host's agent in svc.hosts,
// built by the injected connector (TCP + mutual TLS to host.address:1811 in production, Unix
// sockets in tests), and each member's host_metrics.live following that client's connection, as
// xapi's follows a member's heartbeat. After every reconnection the member's VMs are reconciled.
import { XenApiError, isXenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { Row } from '../db/database.js';
import { nowXapi } from '../time.js';
import type { HostAgent } from '../vm/host-agent.js';
import { afterAgentReconnect } from '../vm/migration-recovery.js';
import { applyInstanceEvent, reconcile } from '../vm/reconcile.js';
import { statsAfterReconnect } from '../stats/hooks.js';
import { masterIpKeeper } from '../master-ip/keeper.js';
import { AutoRestart } from './auto-restart.js';

const log = logger('pool-members');

/** Builds the client of a member host's agent from its host record. */
export type HostConnector = (host: Row & { uuid: string }) => HostAgent;

/** The production default until the TCP+mTLS transport is wired in: the host stays offline. */
export const offlineConnector: HostConnector = (host) => {
  log.warn('no transport to remote host agents configured; host stays offline', { host: host.uuid });
  return {
    connected: false,
    onEvent() {},
    onReconnect() {},
    close() {},
  } as unknown as HostAgent;
};

/**
 * Wraps a member's client so that a call failing because the member went away answers
 * HOST_OFFLINE [host], as xapi answers for a member whose heartbeat stopped: the transport's
 * CANNOT_CONTACT_HOST (which means "this host's own agent" elsewhere), and any other transport
 * failure once the connection is down. The agent's own XenAPI errors pass through.
 */
export function offlineAware(hostRef: string, client: HostAgent): HostAgent {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const out = v.apply(target, args);
        if (!(out instanceof Promise)) return out;
        return out.catch((e: unknown) => {
          const lost = isXenApiError(e) ? e.code === 'CANNOT_CONTACT_HOST' : !target.connected;
          throw lost ? new XenApiError('HOST_OFFLINE', [hostRef]) : e;
        });
      };
    },
  });
}

export class PoolMembers {
  private timer?: NodeJS.Timeout;
  /** Restarts protected VMs of dead members elsewhere (auto-restart.ts). */
  private autoRestart?: AutoRestart;
  /** This host's agent clients seen connected (a client that never connected is not a lost one). */
  private readonly ownSeen = new WeakSet<HostAgent>();

  constructor(
    private readonly svc: Services,
    private readonly connector: HostConnector,
    private readonly restart: (vm: string) => Promise<void>,
    private readonly intervalMs: number,
  ) {}

  /** Connects to every member but this host, and starts following their liveness. */
  start(): void {
    for (const ref of this.svc.db.all('host').keys()) this.attach(ref);
    // This host live again as soon as its own agent is back (not at the next interval).
    this.svc.hosts.peek(this.svc.hostRef())?.onReconnect(() => {
      if (this.timer) this.refreshLive();
    });
    this.refreshLive();
    this.timer = setInterval(() => this.refreshLive(), this.intervalMs);
    this.timer.unref();
    this.autoRestart = new AutoRestart(this.svc, this.restart, this.intervalMs);
    this.autoRestart.begin();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.autoRestart?.end();
    this.autoRestart = undefined;
    for (const ref of this.svc.hosts.refs()) if (ref !== this.svc.hostRef()) this.svc.hosts.detach(ref);
  }

  /** Registers a member's agent client (no-op for this host: the manager attaches its own). */
  attach(hostRef: string): void {
    if (hostRef === this.svc.hostRef() || this.svc.hosts.peek(hostRef)) return;
    const row = this.svc.db.get('host', hostRef);
    if (!row) return;
    const client = this.connector(row as Row & { uuid: string });
    const wrapped = offlineAware(hostRef, client);
    this.svc.hosts.attach(hostRef, wrapped);
    // Its events speak for the VMs resident on it only (not the master's: a migration's copies).
    client.onEvent((e) => applyInstanceEvent(this.svc, e, this.restart, hostRef));
    client.onReconnect(() => {
      this.setLive(hostRef, true);
      void masterIpKeeper(this.svc).memberConnected(hostRef); // an old master's floating address
      client
        .all()
        .then((list) => {
          reconcile(this.svc, list, hostRef);
          void afterAgentReconnect(this.svc, hostRef); // migrations it took part in
          void statsAfterReconnect(this.svc, hostRef); // settings, RRDs left there (stats/hooks.ts)
        })
        .catch((e) => {
          // A client detached meanwhile (host ejected, manager closing) has nothing to reconcile.
          if (this.svc.hosts.peek(hostRef) === wrapped)
            log.warn('reconciliation failed', { host: hostRef, error: String(e) });
        });
    });
  }

  detach(hostRef: string): void {
    this.svc.hosts.detach(hostRef);
  }

  /**
   * host_metrics.live of every host from its agent connection. This host is live while this
   * manager runs, unless its own agent, once connected, went away (the agent does the host's
   * work: its VMs cannot be reached until it is back).
   */
  refreshLive(): void {
    const me = this.svc.hostRef();
    const own = this.svc.hosts.peek(me);
    if (own?.connected) this.ownSeen.add(own);
    for (const ref of [...this.svc.db.all('host').keys()]) {
      const live = ref === me ? !own || own.connected || !this.ownSeen.has(own) : this.svc.hosts.live(ref);
      this.setLive(ref, live);
    }
  }

  private setLive(hostRef: string, live: boolean) {
    const host = this.svc.db.get('host', hostRef);
    const metrics = host && this.svc.db.get('host_metrics', String(host.metrics));
    if (!metrics || metrics.live === live) return;
    this.svc.db.update('host_metrics', String(host.metrics), { live, last_updated: nowXapi() });
    log.info(live ? 'host is live' : 'host is offline', { host: hostRef });
  }
}
