// The thin layer of the master IP procedures: `ip address` and `arping` as argument arrays,
// inside the agent's network namespace when it has one (tests).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import type { MasterIpResult } from '../../shared/host/master-ip.js';
import { inNs, ip, link, type NetOptions, ownedByBerth } from '../network/ip.js';
import { addArgs, arpingArgs, delArgs, parseAddresses } from './params.js';

export interface MasterIpOptions extends NetOptions {
  /** Devices besides Berth-managed bridges that may carry the address (agent configuration). */
  devices?: readonly string[];
  /** The arping program; false: never announce. Default: `arping` if found on PATH. */
  arping?: string | false;
}

/** The first executable `arping` on PATH, or undefined (Debian: package arping or iputils-arping). */
export function findArping(path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const p = join(dir, 'arping');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

export async function addresses(opts: MasterIpOptions, dev?: string) {
  return parseAddresses(await ip(['-j', 'address', 'show', ...(dev ? ['dev', dev] : [])], opts));
}

/** The device must exist and be a Berth-managed bridge or a configured one. */
export async function allowedDevice(dev: string, opts: MasterIpOptions): Promise<void> {
  const l = await link(dev, opts);
  const ok = l && ((ownedByBerth(l) && l.linkinfo?.info_kind === 'bridge') || opts.devices?.includes(dev));
  if (!ok) throw new XenApiError('INVALID_VALUE', ['netdev', dev]);
}

async function announce(ipAddr: string, dev: string, opts: MasterIpOptions): Promise<boolean> {
  const prog = opts.arping === undefined ? findArping() : opts.arping;
  if (!prog) return false;
  // Best effort, as Ganeti's script: the address is up whether or not the neighbours listened.
  const r = await inNs(prog, arpingArgs(ipAddr, dev), opts, 10_000);
  return r.code === 0;
}

export async function activate(
  ipAddr: string,
  len: number,
  dev: string,
  opts: MasterIpOptions,
): Promise<MasterIpResult> {
  await allowedDevice(dev, opts);
  const present = (await addresses(opts, dev)).some((a) => a.ip === ipAddr);
  if (present) return { changed: false, gratuitous_arp: false };
  await ip(addArgs(ipAddr, len, dev), opts);
  return { changed: true, gratuitous_arp: await announce(ipAddr, dev, opts) };
}

export async function deactivate(
  ipAddr: string,
  dev: string,
  opts: MasterIpOptions,
): Promise<MasterIpResult> {
  await allowedDevice(dev, opts);
  const held = (await addresses(opts, dev)).filter((a) => a.ip === ipAddr);
  for (const a of held) await ip(delArgs(ipAddr, a.prefix, dev), opts);
  return { changed: held.length > 0, gratuitous_arp: false };
}

export async function changeNetmask(
  oldLen: number,
  len: number,
  ipAddr: string,
  dev: string,
  opts: MasterIpOptions,
): Promise<MasterIpResult> {
  await allowedDevice(dev, opts);
  const held = (await addresses(opts, dev)).filter((a) => a.ip === ipAddr);
  if (held.length === 0) throw new XenApiError('INVALID_VALUE', ['master_ip', ipAddr]);
  if (held.some((a) => a.prefix === len) && !held.some((a) => a.prefix === oldLen))
    return { changed: false, gratuitous_arp: false };
  // Ganeti's order: the new one first, so the address is never absent.
  if (!held.some((a) => a.prefix === len)) await ip(addArgs(ipAddr, len, dev), opts);
  if (oldLen !== len && held.some((a) => a.prefix === oldLen)) await ip(delArgs(ipAddr, oldLen, dev), opts);
  return { changed: true, gratuitous_arp: false };
}
