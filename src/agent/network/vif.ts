// VIF back ends: one persistent TAP per VIF, named after the VIF (names.ts tapName), on the
// network's bridge. The TAP exists before QEMU starts and is deleted when the VIF is unplugged or
// the VM stops. QEMU never opens it: the agent's berth-fdpass attaches to it (as root) and hands
// QEMU the descriptor (`-netdev tap,fd=N`, or QMP getfd + netdev_add fd=NAME for hot-plug). The
// TAP belongs to root, so no other user can attach to it even where /dev/net/tun is 0666.
// Creating an existing TAP is a no-op, so whoever comes first (manager or QEMU driver) wins.
import { bridgeAddPort } from './bridge.js';
import { deleteOwned, ip, link, markOwned, type NetOptions } from './ip.js';
import { assertIfName } from '../../shared/net/names.js';
import type { LinkStats, SettingsReport } from '../../shared/host/network.js';
import { parseMtu } from '../../shared/net/mtu.js';
import { applySettings } from './settings.js';

export interface VifBackend {
  tap: string;
  bridge: string;
  mtu?: number;
  /** VIF.other_config: ethtool-*, promiscuous, mtu. */
  otherConfig?: Record<string, string>;
}

/** Creates (or adopts) the TAP, puts it on the bridge, applies MTU and settings. */
export async function vifAttach(v: VifBackend, opts: NetOptions = {}): Promise<SettingsReport> {
  const tap = assertIfName(v.tap, 'TAP');
  assertIfName(v.bridge, 'bridge');
  const br = await link(v.bridge, opts);
  if (br?.linkinfo?.info_kind !== 'bridge') throw new Error(`bridge ${v.bridge} does not exist`);
  const existing = await link(tap, opts);
  if (existing && existing.linkinfo?.info_kind !== 'tun')
    throw new Error(`${tap} exists and is not a TAP device`);
  if (!existing) {
    // Owned by root: an unowned persistent TAP can be taken over by anybody who can open
    // /dev/net/tun (TUNSETIFF checks only owner/group), which is 0666 on many hosts.
    await ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', '0'], opts);
    await markOwned(tap, opts);
  }
  try {
    const mtu = parseMtu(v.mtu) ?? br.mtu;
    await ip(['link', 'set', 'dev', tap, 'mtu', String(mtu)], opts);
    await bridgeAddPort(v.bridge, tap, opts);
    return await applySettings(tap, v.otherConfig ?? {}, opts);
  } catch (e) {
    if (!existing) await deleteOwned(tap, opts).catch(() => undefined);
    throw e;
  }
}

/** Re-applies MTU and settings to an attached VIF (after other_config changed). */
export function vifConfigure(tap: string, other: Record<string, string>, opts: NetOptions = {}) {
  return applySettings(assertIfName(tap, 'TAP'), other, opts);
}

/** Deletes the VIF's TAP (only if Berth created it); true if it existed. */
export async function vifDetach(tap: string, opts: NetOptions = {}): Promise<boolean> {
  return deleteOwned(assertIfName(tap, 'TAP'), opts);
}

/** Packet and byte counters of an interface (`ip -s`), for VIF/PIF metrics. */
export async function linkStats(dev: string, opts: NetOptions = {}): Promise<LinkStats | undefined> {
  const r = await ip(['-j', '-s', 'link', 'show', 'dev', assertIfName(dev)], opts).catch(() => undefined);
  if (!r) return undefined;
  const [l] = JSON.parse(r) as {
    flags?: string[];
    stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } };
  }[];
  return {
    rxBytes: Number(l?.stats64?.rx?.bytes ?? 0),
    txBytes: Number(l?.stats64?.tx?.bytes ?? 0),
    carrier: Boolean(l?.flags?.includes('LOWER_UP')),
  };
}
