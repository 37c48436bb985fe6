// Bonds with the Linux bonding driver (CONFIG_BONDING). XenAPI bond modes map to kernel modes as
// xapi's Linux-bridge network backend does:
//   balance-slb   → balance-alb   (source-load balancing needs no switch support; alb is the
//                                  kernel mode with the same property)
//   active-backup → active-backup
//   lacp          → 802.3ad
// Bond.properties: hashing_algorithm (src_mac → layer2, tcpudp_ports → layer3+4) for lacp,
// lacp-time (slow|fast), updelay, downdelay (ms), miimon (default 100 ms).
import { bridgeAddPort, bridgeCreate } from './bridge.js';
import { deleteOwned, ip, link, markOwned, type NetOptions } from './ip.js';
import { assertIfName } from '../../shared/net/names.js';

export type BondMode = 'balance-slb' | 'active-backup' | 'lacp';

export const KERNEL_BOND_MODE: Record<BondMode, string> = {
  'balance-slb': 'balance-alb',
  'active-backup': 'active-backup',
  lacp: '802.3ad',
};

const int = (v: string | undefined, what: string): string | undefined => {
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,6}$/.test(v)) throw new Error(`invalid ${what}: ${v}`);
  return v;
};

/** The `ip link add … type bond …` arguments (pure). Throws on a bad mode or property. */
export function bondAddArgs(name: string, mode: string, props: Record<string, string> = {}): string[] {
  const kernel = KERNEL_BOND_MODE[mode as BondMode];
  if (!kernel) throw new Error(`invalid bond mode ${mode}`);
  const args = ['link', 'add', 'name', name, 'type', 'bond', 'mode', kernel];
  args.push('miimon', int(props.miimon, 'miimon') ?? '100');
  const up = int(props.updelay, 'updelay');
  const down = int(props.downdelay, 'downdelay');
  if (up) args.push('updelay', up);
  if (down) args.push('downdelay', down);
  if (mode === 'lacp') {
    const hash = props.hashing_algorithm ?? 'tcpudp_ports';
    if (hash !== 'src_mac' && hash !== 'tcpudp_ports') throw new Error(`invalid hashing_algorithm ${hash}`);
    args.push('xmit_hash_policy', hash === 'src_mac' ? 'layer2' : 'layer3+4');
    const rate = props['lacp-time'] ?? 'slow';
    if (rate !== 'slow' && rate !== 'fast') throw new Error(`invalid lacp-time ${rate}`);
    args.push('lacp_rate', rate);
  }
  return args;
}

/**
 * Creates bond `name` over `members`, sets its MAC (if given), puts it on `bridge`. Members are
 * taken off any bridge they were on. On failure the bond is removed and members released.
 */
export async function bondCreate(
  name: string,
  members: readonly string[],
  mode: string,
  props: Record<string, string>,
  mac: string | undefined,
  bridge: string,
  mtu: number | undefined,
  opts: NetOptions = {},
): Promise<void> {
  assertIfName(name, 'bond');
  assertIfName(bridge, 'bridge');
  if (members.length < 2) throw new Error('a bond needs at least two members');
  for (const m of members)
    if (!(await link(assertIfName(m, 'member'), opts))) throw new Error(`${m} does not exist`);
  const args = bondAddArgs(name, mode, props);
  const hadBridge = Boolean(await link(bridge, opts));
  await ip(args, opts);
  try {
    await markOwned(name, opts);
    if (mac) await ip(['link', 'set', 'dev', name, 'address', mac], opts);
    for (const m of members) {
      // A port must be down (and off any bridge) to be enslaved to a bond.
      await ip(['link', 'set', 'dev', m, 'nomaster'], opts);
      await ip(['link', 'set', 'dev', m, 'down'], opts);
      await ip(['link', 'set', 'dev', m, 'master', name], opts);
      await ip(['link', 'set', 'dev', m, 'up'], opts);
    }
    await ip(['link', 'set', 'dev', name, 'up'], opts);
    await bridgeCreate(bridge, mtu, opts);
    await bridgeAddPort(bridge, name, opts);
  } catch (e) {
    await bondDestroy(name, members, opts).catch(() => undefined);
    if (!hadBridge) await deleteOwned(bridge, opts).catch(() => undefined);
    throw e;
  }
}

/** Releases the members and deletes the bond (only if Berth created it). */
export async function bondDestroy(name: string, members: readonly string[], opts: NetOptions = {}) {
  for (const m of members)
    await ip(['link', 'set', 'dev', assertIfName(m), 'nomaster'], opts).catch(() => undefined);
  await deleteOwned(assertIfName(name, 'bond'), opts);
}

/** Members with carrier, as the bonding driver sees them (Bond.links_up). */
export async function bondLinksUp(members: readonly string[], opts: NetOptions = {}): Promise<number> {
  let up = 0;
  for (const m of members) if ((await link(m, opts))?.flags.includes('LOWER_UP')) up++;
  return up;
}
