// Wiring networking into the manager: svc.networking (host work goes to the hosts' agents), the VM
// power-state follower that creates and removes TAPs, the default network, and the host-side
// set-up each time a host's agent connects (its default bridge, the TAPs of its running VMs).
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { Database } from '../db/database.js';
import type { HostAgent } from '../vm/host-agent.js';
import { ensureBridge, followVmPowerStates, reconcileVifs } from './backend.js';
import { bridgeHosts } from './host-network.js';

const log = logger('network');

export const DEFAULT_BRIDGE = 'berth0';
export const DEFAULT_NETWORK_KEY = 'berth-default';

export interface NetworkingOptions {
  /** Create the default network (default true). */
  defaultNetwork?: boolean;
}

/**
 * Turns networking on for a manager's services (Manager.open calls this). The host side follows
 * when each host's agent connects (followHostAgent). Returns a function that turns it off.
 */
export function openNetworking(svc: Services, opts: NetworkingOptions = {}): () => void {
  svc.networking = true;
  const off = followVmPowerStates(svc);
  if (opts.defaultNetwork !== false) defaultNetworkRecord(svc.db);
  return () => {
    off();
    svc.networking = false;
  };
}

/** After every (re)connection of `host`'s agent: hostNetworkingUp there. */
export function followHostAgent(svc: Services, host: string, agent: HostAgent): void {
  agent.onReconnect(() => void hostNetworkingUp(svc, host));
}

/**
 * A host's networking as the database says it should be (after its agent connected): the default
 * network's bridge, and the TAPs of the VMs running there on their bridges. Never throws.
 */
export async function hostNetworkingUp(svc: Services, host: string): Promise<void> {
  if (!svc.networking) return;
  const def = defaultNetwork(svc.db);
  const net = def && svc.db.get('network', def);
  if (net) await ensureBridge(svc, host, net).catch((e) => log.warn('default network', { error: String(e) }));
  await reconcileVifs(svc, host).catch((e) => log.warn('VIF reconciliation', { error: String(e) }));
}

function defaultNetwork(db: Database): string | undefined {
  for (const [ref, n] of db.all('network'))
    if ((n.other_config as Record<string, string>)?.[DEFAULT_NETWORK_KEY] === 'true') return ref;
  return undefined;
}

/** The default network's record (created if missing). */
function defaultNetworkRecord(db: Database): string {
  return (
    defaultNetwork(db) ??
    db.create('network', {
      name_label: 'Berth default network',
      name_description: 'Internal bridge for VMs, with no physical interface (attach one with PIF.plug)',
      MTU: 1500,
      bridge: DEFAULT_BRIDGE,
      managed: true,
      other_config: { [DEFAULT_NETWORK_KEY]: 'true', automatic: 'true' },
    })
  );
}

/**
 * The network VMs get by default: a new bridge with no physical port (no host interface is
 * touched), on this host and every connected one. Idempotent: an existing default network only has
 * its bridge re-created where missing.
 */
export async function ensureDefaultNetwork(svc: Services): Promise<string> {
  const ref = defaultNetworkRecord(svc.db);
  if (svc.networking) {
    const net = svc.db.mustGet('network', ref);
    for (const host of bridgeHosts(svc)) await ensureBridge(svc, host, net);
  }
  return ref;
}
