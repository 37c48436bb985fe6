// The host side of networks and VIFs as the API handlers and the VM lifecycle need it: bridges
// made on demand, a VIF's TAP created on its network's bridge on its VM's host when the VM runs and
// removed when it stops, settings reports recorded on the VIF. Every step runs on the agent of the
// host concerned (host-network.ts).
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import { tapName } from '../../shared/net/names.js';
import type { Services } from '../api/context.js';
import { hostOfVm } from '../api/vm.js';
import type { Database, Row } from '../db/database.js';
import { hostNetwork, hostStep, type SettingsReport } from './host-network.js';

const log = logger('network');

export const isLive = (vm: Row | undefined) => vm?.power_state === 'Running' || vm?.power_state === 'Paused';

/** Makes sure the network's bridge exists on `host` (creating it if Berth manages it). */
export async function ensureBridge(svc: Services, host: string, net: Row): Promise<void> {
  const agent = hostNetwork(svc, host);
  if (!agent) return;
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

/**
 * Creates the VIF's TAP on its bridge on `host` and applies its settings; records what failed.
 * `network`: the one the VIF gets there instead of its own (a migration's vif_map).
 */
export async function attachVifBackend(
  svc: Services,
  host: string,
  vif: string,
  network?: string,
): Promise<void> {
  const { db } = svc;
  const agent = hostNetwork(svc, host);
  if (!agent) return;
  const v = db.mustGet('VIF', vif);
  const net = db.mustGet('network', network ?? String(v.network));
  await ensureBridge(svc, host, net);
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

/** Removes the VIF's TAP from `host`. */
export async function detachVifBackend(svc: Services, host: string, vifUuid: string): Promise<void> {
  const agent = hostNetwork(svc, host);
  if (agent) await hostStep('vif_detach', () => agent.vif_detach(tapName(vifUuid)));
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
 * Follows VM power states: when a VM starts (or resumes) its VIFs' TAPs are made and attached on
 * its host, when it halts (or suspends) they are removed from the host it ran on. Returns the
 * unsubscribe function.
 */
export function followVmPowerStates(svc: Services): () => void {
  const { db } = svc;
  // Power state and, while live, the host it runs on (resident_on is cleared when it stops).
  const last = new Map<string, { state: unknown; host?: string }>();
  for (const [ref, vm] of db.all('VM'))
    last.set(ref, { state: vm.power_state, host: isLive(vm) ? hostOfVm(svc, vm) : undefined });
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
      const wasLive = before?.state === 'Running' || before?.state === 'Paused';
      const host = isLive(vm) ? (wasLive && before?.host ? before.host : hostOfVm(svc, vm)) : undefined;
      // A live VM resident on another host now has migrated: vm/migrate.ts moved its TAPs (made
      // before the destination's QEMU, removed from the source after): only the host changes.
      const movedTo =
        host && wasLive && isRef(vm.resident_on) && vm.resident_on !== host ? vm.resident_on : undefined;
      last.set(c.ref, { state: vm.power_state, host: movedTo ?? host });
      // The VIFs the VM has at the transition: one created later waits for VIF.plug.
      const vifs = [...((vm.VIFs as string[]) ?? [])];
      if (movedTo) continue;
      if (host && !wasLive) queue(() => vmStarted(svc, host, vifs));
      else if (!isLive(vm) && wasLive) {
        const vifs = ((vm.VIFs as string[]) ?? []).map(
          (v) => [v, String(db.get('VIF', v)?.uuid ?? '')] as const,
        );
        const ranOn = before?.host ?? svc.hostRef();
        queue(() => vmStopped(svc, ranOn, c.ref, vifs));
      }
    }
  });
  return off;
}

async function vmStarted(svc: Services, host: string, vifs: readonly string[]) {
  for (const vif of vifs) {
    if (!svc.db.has('VIF', vif)) continue;
    try {
      await attachVifBackend(svc, host, vif);
      setAttached(svc.db, vif, true, true);
    } catch (e) {
      log.warn('could not attach VIF', { vif, error: String(e) });
    }
  }
}

const isRef = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== 'OpaqueRef:NULL';

async function vmStopped(
  svc: Services,
  host: string,
  vm: string,
  vifs: readonly (readonly [string, string])[],
) {
  for (const [vif, uuid] of vifs) {
    if (uuid)
      await detachVifBackend(svc, host, uuid).catch((e) =>
        log.warn('could not remove TAP', { vif, error: String(e) }),
      );
    setAttached(svc.db, vif, false, isLive(svc.db.get('VM', vm)));
  }
}

/** After `host`'s agent (re)connected: TAPs of the VMs running there exist and are on their bridges. */
export async function reconcileVifs(svc: Services, host: string): Promise<void> {
  for (const vm of [...svc.db.all('VM').values()])
    if (isLive(vm) && !vm.is_control_domain && hostOfVm(svc, vm) === host)
      await vmStarted(svc, host, [...((vm.VIFs as string[]) ?? [])]);
}
