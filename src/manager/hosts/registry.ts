// The manager's clients of host agents, one per host of the pool, keyed by host ref. Every piece of
// host work goes to the agent of the host it concerns: a VM's to its resident host, an SR's to a
// host with its PBD plugged, a PIF's to its host. A host whose agent is not connected is offline.
import { XenApiError } from '../../shared/errors.js';
import type { HostAgent } from '../vm/host-agent.js';

export class HostRegistry {
  private readonly clients = new Map<string, HostAgent>();

  /** `localRef`: this manager's own host (its agent is reached over the local Unix socket). */
  constructor(private readonly localRef: () => string) {}

  /** Registers the client of a host's agent, closing any earlier one. */
  attach(hostRef: string, client: HostAgent): void {
    const old = this.clients.get(hostRef);
    if (old && old !== client) old.close();
    this.clients.set(hostRef, client);
  }

  /** Forgets a host's client and closes it (host ejected or destroyed). */
  detach(hostRef: string): void {
    this.clients.get(hostRef)?.close();
    this.clients.delete(hostRef);
  }

  /** The registered client, connected or not (undefined when there is none). */
  peek(hostRef: string): HostAgent | undefined {
    return this.clients.get(hostRef);
  }

  /** Whether the host's agent is connected now. */
  live(hostRef: string): boolean {
    return this.clients.get(hostRef)?.connected === true;
  }

  /**
   * The client of a connected host agent. The local host's unreachable agent is
   * CANNOT_CONTACT_HOST (the host itself is up: this manager runs on it); another host's is
   * HOST_OFFLINE, as xapi answers for a member whose heartbeat stopped.
   */
  get(hostRef: string): HostAgent {
    const c = this.clients.get(hostRef);
    if (c?.connected) return c;
    if (hostRef === this.localRef()) throw new XenApiError('CANNOT_CONTACT_HOST', [hostRef]);
    throw new XenApiError('HOST_OFFLINE', [hostRef]);
  }

  /** This manager's own host's agent. */
  local(): HostAgent {
    return this.get(this.localRef());
  }

  /** Refs of every host with a registered client. */
  refs(): string[] {
    return [...this.clients.keys()];
  }

  closeAll(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
