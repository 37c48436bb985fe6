// The host side of networks and VIFs as the API handlers and the VM lifecycle need it: bridges
// made on demand, a VIF's TAP created on its network's bridge when its VM runs and removed when it
// stops, settings reports recorded on the VIF.
import { tapName } from '../../agent/network/names.js';
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { Database, Row } from '../db/database.js';
import { hostStep, type NetworkAgent, type SettingsReport } from './network-agent.js';

const log = logger('network');

export const networkAgentOf = (svc: Services): NetworkAgent | undefined =>
  svc.ext.network as NetworkAgent | undefined;

export const isLive = (vm: Row | undefined) => vm?.power_state === 'Running' || vm?.power_state === 'Paused';

/** Makes sure the network's bridge exists on this host (creating it if Berth manages it). */
export async function ensureBridge(agent: NetworkAgent, net: Row): Promise<void> {
  const bridge = String(net.bridge ?? '');
  if (!bridge) throw new XenApiError('BRIDGE_NOT_AVAILABLE', ['']);
  if (net.managed === false) {
    if (!(await hostStep('bridges_exist', () => agent.bridges_exist([bridge]))))
      throw new XenApiError('BRIDGE_NOT_AVAILABLE', [bridge]);
    return;
  }
  await hostStep('bridge_create', () => agent.bridge_create(bridge, Number(net.MTU) || undefined));
}

/** runtime_properties recording other_config settings the device could not take. */
export function settingsProperties(report: SettingsReport): Record<string, string> {
  return Object.fromEntries(Object.entries(report.failed).map(([k, why]) => [`not-applied:${k}`, why]));
}

/** Creates the VIF's TAP on its bridge and applies its settings; records what failed. */
export async function attachVifBackend(svc: Services, agent: NetworkAgent, vif: string): Promise<void> {
  const { db } = svc;
  const v = db.mustGet('VIF', vif);
  const net = db.mustGet('network', String(v.network));
  await ensureBridge(agent, net);
  const report = await hostStep('vif_attach', () =>
    agent.vif_attach(
      tapName(String(v.uuid)),
      String(net.bridge),
      Number(v.MTU) || undefined,
      (v.other_config as Record<string, string>) ?? {},
    ),
  );
  if (db.has('VIF', vif)) db.update('VIF', vif, { runtime_properties: settingsProperties(report) });
}

export async function detachVifBackend(agent: NetworkAgent, vifUuid: string): Promise<void> {
  await hostStep('vif_detach', () => agent.vif_detach(tapName(vifUuid)));
}

function setAttached(db: Database, vif: string, attached: boolean, live: boolean) {
  if (!db.has('VIF', vif)) return;
  db.update('VIF', vif, {
    currently_attached: attached,
    allowed_operations: live ? (attached ? ['unplug'] : ['plug']) : ['attach'],
  });
}

/** Refreshes allowed_operations of a VM's VIFs after its power state changed. */
export function refreshVifOps(db: Database, vm: string) {
  const row = db.get('VM', vm);
  for (const vif of (row?.VIFs as string[]) ?? []) {
    const v = db.get('VIF', vif);
    if (v) setAttached(db, vif, Boolean(v.currently_attached), isLive(row));
  }
}

export { setAttached };

/**
 * Follows VM power states: when a VM starts (or resumes) its VIFs' TAPs are made and attached,
 * when it halts (or suspends) they are removed. Returns the unsubscribe function.
 */
export function followVmPowerStates(svc: Services, agent: NetworkAgent): () => void {
  const { db } = svc;
  const last = new Map<string, unknown>();
  for (const [ref, vm] of db.all('VM')) last.set(ref, vm.power_state);
  let chain = Promise.resolve();
  const queue = (fn: () => Promise<void>) => {
    chain = chain.then(fn).catch((e) => log.warn('VIF back end', { error: String(e) }));
  };
  const off = db.onCommit((changes) => {
    for (const c of changes) {
      if (c.cls !== 'VM') continue;
      if (c.op === 'del') {
        last.delete(c.ref);
        continue;
      }
      const vm = db.get('VM', c.ref);
      if (!vm || vm.is_control_domain) continue;
      const before = last.get(c.ref);
      last.set(c.ref, vm.power_state);
      const wasLive = before === 'Running' || before === 'Paused';
      // The VIFs the VM has at the transition: one created later waits for VIF.plug.
      const vifs = [...((vm.VIFs as string[]) ?? [])];
      if (isLive(vm) && !wasLive) queue(() => vmStarted(svc, agent, vifs));
      else if (!isLive(vm) && wasLive) {
        const vifs = ((vm.VIFs as string[]) ?? []).map(
          (v) => [v, String(db.get('VIF', v)?.uuid ?? '')] as const,
        );
        queue(() => vmStopped(svc, agent, c.ref, vifs));
      }
    }
  });
  return off;
}

async function vmStarted(svc: Services, agent: NetworkAgent, vifs: readonly string[]) {
  for (const vif of vifs) {
    if (!svc.db.has('VIF', vif)) continue;
    try {
      await attachVifBackend(svc, agent, vif);
      setAttached(svc.db, vif, true, true);
    } catch (e) {
      log.warn('could not attach VIF', { vif, error: String(e) });
    }
  }
}

async function vmStopped(
  svc: Services,
  agent: NetworkAgent,
  vm: string,
  vifs: readonly (readonly [string, string])[],
) {
  for (const [vif, uuid] of vifs) {
    if (uuid)
      await detachVifBackend(agent, uuid).catch((e) =>
        log.warn('could not remove TAP', { vif, error: String(e) }),
      );
    setAttached(svc.db, vif, false, isLive(svc.db.get('VM', vm)));
  }
}

/** After a manager restart: TAPs of running VMs exist and are on their bridges. */
export async function reconcileVifs(svc: Services, agent: NetworkAgent): Promise<void> {
  for (const vm of [...svc.db.all('VM').values()])
    if (isLive(vm) && !vm.is_control_domain) await vmStarted(svc, agent, [...((vm.VIFs as string[]) ?? [])]);
}
