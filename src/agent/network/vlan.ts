// 802.1Q VLANs: a VLAN device on the tagged PIF's device (`ip link add link eth0 name eth0.100
// type vlan id 100`), on its own bridge. Needs the kernel's 8021q support (CONFIG_VLAN_8021Q).
import { bridgeAddPort, bridgeCreate, bridgeDestroy } from './bridge.js';
import { deleteOwned, ip, link, markOwned, type NetOptions } from './ip.js';
import { assertIfName, vlanDeviceName } from '../../shared/net/names.js';
import { validVlanTag } from '../../shared/net/vlan-tag.js';

/** The ip(8) arguments that create the VLAN device (pure). */
export function vlanAddArgs(device: string, tag: number, name = vlanDeviceName(device, tag)): string[] {
  return ['link', 'add', 'link', device, 'name', name, 'type', 'vlan', 'id', String(tag)];
}

/**
 * Creates the VLAN device and its bridge (idempotent); returns the VLAN device's name. On failure
 * nothing it created is left behind.
 */
export async function vlanCreate(
  device: string,
  tag: number,
  bridge: string,
  mtu: number | undefined,
  opts: NetOptions = {},
): Promise<string> {
  assertIfName(device, 'device');
  assertIfName(bridge, 'bridge');
  if (!validVlanTag(tag)) throw new Error(`invalid VLAN tag ${tag}`);
  const name = vlanDeviceName(device, tag);
  if (!(await link(device, opts))) throw new Error(`device ${device} does not exist`);
  const hadBridge = Boolean(await link(bridge, opts));
  const hadVlan = Boolean(await link(name, opts));
  try {
    if (!hadVlan) {
      await ip(vlanAddArgs(device, tag, name), opts);
      await markOwned(name, opts);
    }
    await ip(['link', 'set', 'dev', device, 'up'], opts);
    await bridgeCreate(bridge, mtu, opts);
    await bridgeAddPort(bridge, name, opts);
    return name;
  } catch (e) {
    if (!hadVlan) await deleteOwned(name, opts).catch(() => undefined);
    if (!hadBridge) await bridgeDestroy(bridge, opts).catch(() => undefined);
    throw e;
  }
}

/** Deletes the VLAN device and its bridge (both only if Berth created them). */
export async function vlanDestroy(device: string, tag: number, bridge: string, opts: NetOptions = {}) {
  await deleteOwned(vlanDeviceName(assertIfName(device, 'device'), tag), opts);
  await bridgeDestroy(bridge, opts);
}
