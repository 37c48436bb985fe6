// Physical interfaces: discovery (PIF.scan), metrics, plugging a NIC into its network's bridge,
// and IP configuration (None / DHCP / Static). Discovery only reads; nothing here touches a
// host interface unless the administrator asked for it (PIF.plug, PIF.reconfigure_ip).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeAddPort, bridgeCreate } from './bridge.js';
import { inNs, ip, type Link, link, links, type NetOptions } from './ip.js';
import type { IpConfig, IpResult, NicInfo, PifMetrics } from '../../shared/host/network.js';
import { isIPv4, netmaskToPrefix } from '../../shared/net/ipv4.js';
import { assertIfName } from '../../shared/net/names.js';

export interface ScanOptions extends NetOptions {
  /**
   * Virtual link kinds to treat as NICs too (tests pass ['veth'] so veth ends stand in for
   * physical NICs inside their namespace). Real NICs are links with a parent bus.
   */
  kinds?: string[];
}

/** Which links are NICs (pure): a parent bus, or an admitted virtual kind; never a bond/bridge port's helper. */
export function isNic(l: Link, kinds: readonly string[] = []): boolean {
  if (l.link_type !== 'ether' || !l.address) return false;
  const kind = l.linkinfo?.info_kind;
  if (kind) return kinds.includes(kind);
  return Boolean(l.parentbus);
}

/** Discovers NICs (PIF.scan). */
export async function pifScan(opts: ScanOptions = {}): Promise<NicInfo[]> {
  const all = await links(opts);
  const addrs = await addresses(opts);
  return all
    .filter((l) => isNic(l, opts.kinds))
    .map((l) => ({
      device: l.ifname,
      MAC: String(l.address).toLowerCase(),
      MTU: l.mtu,
      carrier: l.flags.includes('LOWER_UP'),
      bus: l.parentbus ?? '',
      addresses: addrs.get(l.ifname) ?? [],
    }));
}

async function addresses(opts: NetOptions): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const j = JSON.parse((await ip(['-j', '-4', 'addr', 'show'], opts)) || '[]') as {
    ifname: string;
    addr_info?: { local: string; prefixlen: number }[];
  }[];
  for (const l of j)
    out.set(
      l.ifname,
      (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
    );
  return out;
}

/** Parses `ethtool DEV` (pure): speed in Mb/s (0 if unknown), full duplex, link detected. */
export function parseEthtool(text: string): { speed: number; duplex: boolean; link?: boolean } {
  const speed = /Speed:\s*(\d+)\s*Mb\/s/.exec(text);
  const duplex = /Duplex:\s*(\w+)/.exec(text);
  const ln = /Link detected:\s*(yes|no)/.exec(text);
  return {
    speed: speed ? Number(speed[1]) : 0,
    duplex: duplex?.[1].toLowerCase() === 'full',
    link: ln ? ln[1] === 'yes' : undefined,
  };
}

export async function pifMetrics(device: string, opts: NetOptions = {}): Promise<PifMetrics | undefined> {
  const l = await link(assertIfName(device), opts);
  if (!l) return undefined;
  const r = await inNs('ethtool', [device], opts).catch(() => undefined);
  const e = parseEthtool(r?.stdout ?? '');
  let vendor = '';
  let dev = '';
  if (!opts.netns && l.parentbus === 'pci') {
    // PCI ids from sysfs (host namespace only: a namespace's /sys is not ours to read here).
    const { readFileSync } = await import('node:fs');
    const rd = (f: string) => {
      try {
        return readFileSync(`/sys/class/net/${device}/device/${f}`, 'utf8').trim().replace(/^0x/, '');
      } catch {
        return '';
      }
    };
    vendor = rd('vendor');
    dev = rd('device');
  }
  return {
    carrier: e.link ?? l.flags.includes('LOWER_UP'),
    speed: e.speed,
    duplex: e.duplex,
    vendor_id: vendor,
    device_id: dev,
  };
}

/** Puts a NIC (or bond/VLAN device) on its network's bridge: the administrator's PIF.plug. */
export async function pifPlug(
  device: string,
  bridge: string,
  mtu: number | undefined,
  opts: NetOptions = {},
) {
  assertIfName(device, 'device');
  if (!(await link(device, opts))) throw new Error(`device ${device} does not exist`);
  await bridgeCreate(bridge, mtu, opts);
  if (mtu !== undefined) await ip(['link', 'set', 'dev', device, 'mtu', String(mtu)], opts);
  await bridgeAddPort(bridge, device, opts);
}

/** Takes a NIC off its bridge (PIF.unplug); the bridge stays for internal VM traffic. */
export async function pifUnplug(device: string, opts: NetOptions = {}) {
  const l = await link(assertIfName(device, 'device'), opts);
  if (l?.master) await ip(['link', 'set', 'dev', device, 'nomaster'], opts);
}

// ---------------- IP configuration ----------------

/**
 * Configures IPv4 on `dev` (the PIF's bridge). None flushes; Static sets the address and, if
 * given, a default route via the gateway *on this device only*; DHCP runs one busybox udhcpc
 * exchange and applies the lease itself.
 */
export async function reconfigureIp(dev: string, cfg: IpConfig, opts: NetOptions = {}): Promise<IpResult> {
  assertIfName(dev);
  if (cfg.mode === 'None') {
    await ip(['-4', 'addr', 'flush', 'dev', dev], opts);
    return { IP: '', netmask: '', gateway: '', DNS: '' };
  }
  if (cfg.mode === 'Static') {
    const prefix = netmaskToPrefix(cfg.netmask ?? '');
    if (!cfg.IP || !isIPv4(cfg.IP) || prefix === undefined) throw new Error('invalid static address');
    if (cfg.gateway && !isIPv4(cfg.gateway)) throw new Error('invalid gateway');
    return applyAddress(
      dev,
      { IP: cfg.IP, netmask: cfg.netmask!, gateway: cfg.gateway ?? '', DNS: '' },
      opts,
    );
  }
  if (cfg.mode === 'DHCP') return applyAddress(dev, await dhcpLease(dev, opts), opts);
  throw new Error(`invalid mode ${String(cfg.mode)}`);
}

async function applyAddress(dev: string, r: IpResult, opts: NetOptions): Promise<IpResult> {
  const prefix = netmaskToPrefix(r.netmask);
  if (!isIPv4(r.IP) || prefix === undefined) throw new Error(`unusable address ${r.IP}/${r.netmask}`);
  await ip(['link', 'set', 'dev', dev, 'up'], opts);
  await ip(['-4', 'addr', 'flush', 'dev', dev], opts);
  await ip(['-4', 'addr', 'add', `${r.IP}/${prefix}`, 'dev', dev], opts);
  if (r.gateway) await ip(['-4', 'route', 'replace', 'default', 'via', r.gateway, 'dev', dev], opts);
  return r;
}

/** Parses what the udhcpc hook printed (pure). */
export function parseLease(out: string): IpResult | undefined {
  const kv = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^BERTH-LEASE (\w+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1], m[2].trim());
  }
  if (!kv.get('ip')) return undefined;
  return {
    IP: kv.get('ip')!,
    netmask: kv.get('subnet') ?? '255.255.255.255',
    gateway: (kv.get('router') ?? '').split(/\s+/)[0] ?? '',
    DNS: (kv.get('dns') ?? '').split(/\s+/).filter(Boolean).join(','),
  };
}

// udhcpc runs this hook with the lease in its environment; it only prints the lease, Berth
// applies it (so all configuration goes through the same code as Static).
const HOOK = `#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
echo "BERTH-LEASE ip=$ip"
echo "BERTH-LEASE subnet=$subnet"
echo "BERTH-LEASE router=$router"
echo "BERTH-LEASE dns=$dns"
`;

export async function dhcpLease(dev: string, opts: NetOptions = {}, timeoutS = 6): Promise<IpResult> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-dhcp-'));
  try {
    const hook = join(dir, 'hook');
    writeFileSync(hook, HOOK, { mode: 0o700 });
    await ip(['link', 'set', 'dev', dev, 'up'], opts);
    // -q: quit after the lease; -n: fail (don't background) without one; -f: foreground.
    const r = await inNs(
      'busybox',
      [
        'udhcpc',
        '-f',
        '-q',
        '-n',
        '-i',
        dev,
        '-s',
        hook,
        '-t',
        '3',
        '-T',
        String(Math.max(1, Math.floor(timeoutS / 3))),
      ],
      opts,
      (timeoutS + 10) * 1000,
    );
    const lease = parseLease(r.stdout);
    if (!lease) throw new Error(`no DHCP lease on ${dev}`);
    return lease;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
