// Wiring networking into the manager: the host's NetworkAgent as svc.ext.network, vmNics as
// svc.ext.vmNics (VM.start puts NICs in the agent's spec), the VM power-state follower that
// creates and removes TAPs, and the default network.
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { Database } from '../db/database.js';
import { followVmPowerStates, reconcileVifs } from './backend.js';
import { hostStep, inProcessNetworkAgent, type NetworkAgent } from './network-agent.js';
import { vmNics } from './vm-nics.js';

const log = logger('network');

export const DEFAULT_BRIDGE = 'berth0';
export const DEFAULT_NETWORK_KEY = 'berth-default';

export interface NetworkingOptions {
  /** The host's networking; default: in-process, in the manager's own namespace. */
  agent?: NetworkAgent;
  /** Create the default network (default true). */
  defaultNetwork?: boolean;
}

/**
 * Attaches networking to a manager's services (the lead calls this in Manager.open). Returns a
 * function that detaches it.
 */
export async function openNetworking(svc: Services, opts: NetworkingOptions = {}): Promise<() => void> {
  // TAPs belong to root; the agent hands QEMU their descriptors (docs/agent.md).
  const agent = opts.agent ?? inProcessNetworkAgent();
  svc.ext.network = agent;
  svc.ext.vmNics = vmNics;
  const off = followVmPowerStates(svc, agent);
  if (opts.defaultNetwork !== false) {
    await ensureDefaultNetwork(svc).catch((e) => log.warn('default network', { error: String(e) }));
  }
  await reconcileVifs(svc, agent).catch((e) => log.warn('VIF reconciliation', { error: String(e) }));
  return () => {
    off();
    if (svc.ext.network === agent) svc.ext.network = undefined;
  };
}

function defaultNetwork(db: Database): string | undefined {
  for (const [ref, n] of db.all('network'))
    if ((n.other_config as Record<string, string>)?.[DEFAULT_NETWORK_KEY] === 'true') return ref;
  return undefined;
}

/**
 * The network VMs get by default: a new bridge with no physical port (no host interface is
 * touched). Idempotent: an existing default network only has its bridge re-created if missing.
 */
export async function ensureDefaultNetwork(svc: Services): Promise<string> {
  const { db } = svc;
  let ref = defaultNetwork(db);
  if (!ref) {
    ref = db.create('network', {
      name_label: 'Berth default network',
      name_description: 'Internal bridge for VMs, with no physical interface (attach one with PIF.plug)',
      MTU: 1500,
      bridge: DEFAULT_BRIDGE,
      managed: true,
      other_config: { [DEFAULT_NETWORK_KEY]: 'true', automatic: 'true' },
    });
  }
  const agent = svc.ext.network as NetworkAgent | undefined;
  if (agent) {
    const net = db.mustGet('network', ref);
    await hostStep('bridge_create', () =>
      agent.bridge_create(String(net.bridge), Number(net.MTU) || undefined),
    );
  }
  return ref;
}
