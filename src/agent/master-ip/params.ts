// The master IP procedures' checks and `ip` argument lists (pure): every field checked before a
// command runs; the lists are argument arrays, never a shell line.
import { XenApiError } from '../../shared/errors.js';
import type { MasterIpParams } from '../../shared/host/master-ip.js';
import { isIPv4 } from '../../shared/net/ipv4.js';
import { validIfName } from '../../shared/net/names.js';

const bad = (name: string, v: unknown) => {
  const text = JSON.stringify(v) ?? 'undefined';
  return new XenApiError('INVALID_VALUE', [name, text.length > 200 ? `${text.slice(0, 200)}…` : text]);
};

export function address(name: string, v: unknown): string {
  if (typeof v !== 'string' || !isIPv4(v)) throw bad(name, v);
  return v;
}

export function prefix(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 32) throw bad(name, v);
  return v;
}

export function device(name: string, v: unknown): string {
  if (!validIfName(v)) throw bad(name, v);
  return v;
}

/** Ganeti's master_params, checked field by field. */
export function masterParams(v: unknown): MasterIpParams {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('params', v);
  const p = v as Record<string, unknown>;
  if (p.ip_family !== undefined && p.ip_family !== 'inet') throw bad('ip_family', p.ip_family);
  return {
    ip: address('ip', p.ip),
    netmask: prefix('netmask', p.netmask),
    netdev: device('netdev', p.netdev),
    ip_family: 'inet',
  };
}

/** Berth runs no external master-ip-setup script: the flag must be false (or absent). */
export function noExternalScript(v: unknown): void {
  if (v !== false && v !== undefined && v !== null) throw bad('use_external_mip_script', v);
}

export const addArgs = (ip: string, len: number, dev: string) => [
  'address',
  'add',
  `${ip}/${len}`,
  'dev',
  dev,
];
export const delArgs = (ip: string, len: number, dev: string) => [
  'address',
  'del',
  `${ip}/${len}`,
  'dev',
  dev,
];
/** `arping -U`: unsolicited (gratuitous) ARP, 3 of them, as Ganeti's setup script sends. */
export const arpingArgs = (ip: string, dev: string) => ['-U', '-c', '3', '-I', dev, ip];

/** The IPv4 addresses of `ip -j address show` output: device, address, prefix length (pure). */
export function parseAddresses(json: string): { dev: string; ip: string; prefix: number }[] {
  const v = JSON.parse(json.trim() || '[]');
  if (!Array.isArray(v)) throw new Error('ip -j address: not a list');
  const out: { dev: string; ip: string; prefix: number }[] = [];
  for (const l of v) {
    if (!l || typeof l.ifname !== 'string' || !Array.isArray(l.addr_info)) continue;
    for (const a of l.addr_info)
      if (a?.family === 'inet' && typeof a.local === 'string' && typeof a.prefixlen === 'number')
        out.push({ dev: l.ifname, ip: a.local, prefix: a.prefixlen });
  }
  return out;
}
