// network.*: networks are Linux bridges. create names a bridge (xapi<N> when none is given) and,
// for managed networks, creates it on the host; destroy refuses networks in use (xapi's
// NETWORK_CONTAINS_PIF / NETWORK_CONTAINS_VIF) and removes the bridge only if Berth made it.
// Bridges are made on this host and every connected one (bridgeHosts); others get theirs when a
// VIF or PIF needs it. This module also gathers the networking handler tables.
import { XenApiError } from '../../shared/errors.js';
import { MAX_MTU, MIN_MTU } from '../../shared/net/mtu.js';
import { validIfName } from '../../shared/net/names.js';
import type { Database } from '../db/database.js';
import { bridgeHosts, hostNetwork, hostStep } from '../network/host-network.js';
import type { Services } from './context.js';
import { bondApi } from './bond.js';
import type { HandlerTable } from './context.js';
import { createRecord } from './implicit.js';
import { pifApi } from './pif.js';
import { vifApi } from './vif.js';
import { vlanApi } from './vlan.js';

/** Bridge names xapi never lets a network use. */
const RESERVED_BRIDGES = new Set(['xenapi', 'lo']);

export function usedBridges(db: Database): Set<string> {
  return new Set([...db.all('network').values()].map((n) => String(n.bridge)).filter(Boolean));
}

/** First `<prefix><N>` no network uses (pure over the set). */
export function pickBridge(used: ReadonlySet<string>, prefix = 'xapi'): string {
  for (let i = 0; ; i++) if (!used.has(`${prefix}${i}`)) return `${prefix}${i}`;
}

export function checkMtu(mtu: unknown): number {
  const n = Number(mtu);
  if (!Number.isInteger(n) || n < MIN_MTU || n > MAX_MTU)
    throw new XenApiError('INVALID_VALUE', ['MTU', String(mtu)]);
  return n;
}

/** Runs `step` with the networking of every host a network's bridge is made on (none when off). */
async function onBridgeHosts(
  svc: Services,
  step: (agent: NonNullable<ReturnType<typeof hostNetwork>>) => Promise<void>,
): Promise<void> {
  if (!svc.networking) return;
  for (const host of bridgeHosts(svc)) await step(hostNetwork(svc, host)!);
}

export const networkApi: HandlerTable = {
  handlers: {
    'network.create': async (ctx, rec) => {
      const { db } = ctx.svc;
      const f = createRecord(db, db.classSpec('network'), rec);
      const used = usedBridges(db);
      let bridge = String(f.bridge ?? '');
      if (bridge === '') bridge = pickBridge(used);
      else if (!validIfName(bridge) || RESERVED_BRIDGES.has(bridge))
        throw new XenApiError('INVALID_VALUE', ['bridge', bridge]);
      else if (used.has(bridge)) throw new XenApiError('BRIDGE_NAME_EXISTS', [bridge]);
      const mtu = f.MTU === undefined ? 1500 : checkMtu(f.MTU);
      const managed = f.managed === undefined ? true : Boolean(f.managed);
      await onBridgeHosts(ctx.svc, async (agent) => {
        if (managed) await hostStep('bridge_create', () => agent.bridge_create(bridge, mtu));
        else if (!(await hostStep('bridges_exist', () => agent.bridges_exist([bridge]))))
          throw new XenApiError('BRIDGE_NOT_AVAILABLE', [bridge]);
      });
      return db.create('network', { ...f, bridge, MTU: mtu, managed });
    },
    'network.destroy': async (ctx, net) => {
      const { db } = ctx.svc;
      const row = db.mustGet('network', net);
      const vifs = (row.VIFs as string[]) ?? [];
      const attached = vifs.filter((v) => db.get('VIF', v)?.currently_attached);
      if (attached.length) throw new XenApiError('NETWORK_CONTAINS_VIF', attached);
      const pifs = (row.PIFs as string[]) ?? [];
      if (pifs.length) throw new XenApiError('NETWORK_CONTAINS_PIF', pifs);
      if (row.managed !== false && row.bridge)
        await onBridgeHosts(ctx.svc, async (agent) => {
          await hostStep('bridge_destroy', () => agent.bridge_destroy(String(row.bridge)));
        });
      db.transaction(() => {
        // Unattached VIFs go with the network (xapi does not wait for its GC either).
        for (const v of vifs) {
          const m = db.get('VIF', v)?.metrics;
          if (m && db.has('VIF_metrics', String(m))) db.destroy('VIF_metrics', String(m));
          if (db.has('VIF', v)) db.destroy('VIF', v);
        }
        db.destroy('network', net);
      });
    },
    'network.set_MTU': async (ctx, net, value) => {
      const { db } = ctx.svc;
      const row = db.mustGet('network', net);
      const mtu = checkMtu(value);
      if (row.managed !== false && row.bridge)
        await onBridgeHosts(ctx.svc, (agent) =>
          hostStep('bridge_create', () => agent.bridge_create(String(row.bridge), mtu)),
        );
      db.update('network', net, { MTU: mtu });
    },
  },
};

/** Every networking message handler (network, PIF, VIF, VLAN, Bond); add to API_MODULES. */
export const networkingApi: HandlerTable = {
  handlers: {
    ...networkApi.handlers,
    ...pifApi.handlers,
    ...vifApi.handlers,
    ...vlanApi.handlers,
    ...bondApi.handlers,
  },
};
