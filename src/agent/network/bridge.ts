// Linux bridges: one per network. Berth creates and deletes only bridges it marked as its own;
// an administrator's existing bridge can back an unmanaged network but is never removed.
import { assertIfName } from '../../shared/net/names.js';
import { deleteOwned, ip, link, links, markOwned, type NetOptions } from './ip.js';

/** Ganeti's bridges_exist: true if every bridge in the list exists (and is a bridge). */
export async function bridgesExist(names: readonly string[], opts: NetOptions = {}): Promise<boolean> {
  if (!Array.isArray(names)) throw new Error('bridges_exist: expected a list of names');
  const all = await links(opts);
  const bridges = new Set(all.filter((l) => l.linkinfo?.info_kind === 'bridge').map((l) => l.ifname));
  return names.every((n) => bridges.has(n));
}

/**
 * Creates the bridge if it does not exist (idempotent), sets its MTU and brings it up. Fails if
 * a device that is not a bridge already has the name.
 */
export async function bridgeCreate(
  name: string,
  mtu: number | undefined,
  opts: NetOptions = {},
): Promise<void> {
  assertIfName(name, 'bridge');
  const existing = await link(name, opts);
  if (existing && existing.linkinfo?.info_kind !== 'bridge')
    throw new Error(`${name} exists and is not a bridge`);
  if (!existing) {
    // No STP and no forwarding delay: ports are VM TAPs and NICs, forwarding must start at once.
    await ip(['link', 'add', 'name', name, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'], opts);
    await markOwned(name, opts);
  }
  if (mtu !== undefined) await ip(['link', 'set', 'dev', name, 'mtu', String(mtu)], opts);
  await ip(['link', 'set', 'dev', name, 'up'], opts);
}

/** Deletes a bridge Berth created; an administrator's bridge is left alone. */
export async function bridgeDestroy(name: string, opts: NetOptions = {}): Promise<boolean> {
  assertIfName(name, 'bridge');
  return deleteOwned(name, opts);
}

/** Enslaves `port` to `bridge` and brings it up. */
export async function bridgeAddPort(bridge: string, port: string, opts: NetOptions = {}): Promise<void> {
  assertIfName(bridge, 'bridge');
  assertIfName(port, 'port');
  await ip(['link', 'set', 'dev', port, 'master', bridge], opts);
  await ip(['link', 'set', 'dev', port, 'up'], opts);
}

/** Names of the ports currently on `bridge`. */
export async function bridgePorts(bridge: string, opts: NetOptions = {}): Promise<string[]> {
  return (await links(opts)).filter((l) => l.master === bridge).map((l) => l.ifname);
}
