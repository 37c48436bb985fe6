// wake_on_lan: the magic packet (6 bytes 0xff, then the MAC 16 times) as a UDP broadcast, sent
// from the address of the configured interface to its broadcast address (or to the address given).
import { createSocket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import os from 'node:os';
import { failed, invalid } from './failures.js';
import type { HostOpsConfig } from './options.js';

const MAC = /^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$/;

export function magicPacket(mac: string): Buffer {
  const bytes = Buffer.from(mac.replace(/[:-]/g, ''), 'hex');
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => bytes)]);
}

/** An interface's first IPv4 address and its broadcast address, or null. */
export function interfaceBroadcast(iface: string): { address: string; broadcast: string } | null {
  const a = (os.networkInterfaces()[iface] ?? []).find((x) => x.family === 'IPv4');
  if (!a) return null;
  const octets = a.address.split('.').map(Number);
  const mask = a.netmask.split('.').map(Number);
  return { address: a.address, broadcast: octets.map((o, i) => (o | (~mask[i] & 0xff)) >>> 0).join('.') };
}

export async function wakeOnLan(
  cfg: HostOpsConfig,
  mac: unknown,
  address: unknown,
  port: unknown,
): Promise<{ address: string; port: number }> {
  if (typeof mac !== 'string' || !MAC.test(mac)) throw invalid('mac', mac);
  if (address !== null && address !== undefined && (typeof address !== 'string' || !isIPv4(address)))
    throw invalid('address', address);
  const p = port === null || port === undefined ? 9 : port;
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw invalid('port', port);
  const iface = cfg.wolInterface ? interfaceBroadcast(cfg.wolInterface) : null;
  if (cfg.wolInterface && !iface)
    throw failed('wake_on_lan', `interface ${cfg.wolInterface} has no IPv4 address`);
  const to = (address as string | null | undefined) ?? iface?.broadcast ?? '255.255.255.255';
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: iface?.address, port: 0 }, () => resolve());
    });
    socket.setBroadcast(true);
    await new Promise<void>((resolve, reject) =>
      socket.send(magicPacket(mac), p, to, (e) => (e ? reject(e) : resolve())),
    );
  } catch (e) {
    throw failed(
      'wake_on_lan',
      `cannot send the magic packet to ${to}:${p}: ${String((e as Error).message ?? e)}`,
    );
  } finally {
    socket.close();
  }
  return { address: to, port: p };
}
