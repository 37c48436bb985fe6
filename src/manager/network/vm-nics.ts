// The NICs a VM starts with (pure over the database): one per VIF, in device order, with the
// network's bridge and the TAP the network layer creates for the VIF.
import { tapName } from '../../shared/net/names.js';
import type { Database } from '../db/database.js';
import type { InstanceSpec } from '../vm/host-agent.js';

export type NicSpec = InstanceSpec['nics'][number];

export function vifNic(db: Database, vif: string): NicSpec | undefined {
  const v = db.get('VIF', vif);
  const net = v && db.get('network', String(v.network));
  if (!v || !net?.bridge) return undefined;
  return {
    mac: String(v.MAC),
    bridge: String(net.bridge),
    device: String(v.device),
    mtu: Number(v.MTU) || undefined,
    tap: tapName(String(v.uuid)),
  };
}

/** The VM's NICs for the agent's start spec (VIFs on networks without a bridge are left out). */
export function vmNics(db: Database, vmRef: string): NicSpec[] {
  const vm = db.get('VM', vmRef);
  if (!vm) return [];
  return ((vm.VIFs as string[]) ?? [])
    .map((vif) => vifNic(db, vif))
    .filter((n): n is NicSpec => n !== undefined)
    .sort((a, b) => Number(a.device) - Number(b.device));
}
