// VDI.get_nbd_info, as xapi_vdi.ml's _get_nbd_info: for every host with a plugged PBD of the
// VDI's SR (only the VM's host when a running VM holds the VDI: servingHosts), one record per IP (IPv4 first, then IPv6) of that host's attached PIFs on networks
// with purpose nbd or insecure_nbd; the export name carries the caller's session. No such network
// (or no such PIF): an empty list. A cbt_metadata VDI: VDI_INCOMPATIBLE_TYPE.
import { X509Certificate } from 'node:crypto';
import { XenApiError } from '../../shared/errors.js';
import type { Database } from '../db/database.js';
import { NBD_PORT } from './server.js';
import { liveHolder } from './vdi-backend.js';

export interface NbdServerInfo {
  exportname: string;
  address: string;
  port: number;
  cert: string;
  subject: string;
}

/** A host's NBD certificate (PEM), or undefined when it has none to offer. */
export type CertificateOf = (host: string) => string | undefined;

const NBD_PURPOSES = new Set(['nbd', 'insecure_nbd']);

/** DNS names of a certificate's SAN (or its CN when it has none), as X509.Certificate.hostnames. */
export function certificateHostnames(pem: string): string[] {
  const cert = new X509Certificate(pem);
  const san = cert.subjectAltName;
  if (san)
    return san
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4));
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject);
  return cn ? [cn[1]] : [];
}

/** xapi's choice: the least strict (non-wildcard) name, else the least wildcard one, else none. */
export function pickSubject(names: string[]): string | undefined {
  const strict = names.filter((n) => !n.startsWith('*.')).sort();
  const wild = names.filter((n) => n.startsWith('*.')).sort();
  return strict[0] ?? wild[0];
}

function ipsOf(pif: Record<string, unknown>): string[] {
  const v6 = ((pif.IPv6 as string[]) ?? []).filter((a) => a !== '');
  const v4 = String(pif.IP ?? '');
  return v4 ? [v4, ...v6] : v6;
}

/**
 * Hosts whose NBD server can serve `vdi` (its bytes are on a local Unix socket of the agent's
 * host, vdi-backend.ts): those with a plugged PBD of its SR, as xapi; when a running VM holds the
 * VDI, only the VM's host (the VM's QEMU serves it there; another host could only read the image
 * file under a writing QEMU).
 */
export function servingHosts(db: Database, vdi: string): string[] {
  const sr = String(db.mustGet('VDI', vdi).SR);
  const plugged = [...db.all('PBD').values()]
    .filter((p) => p.SR === sr && p.currently_attached === true)
    .map((p) => String(p.host));
  const holder = liveHolder({ db }, vdi);
  return holder ? plugged.filter((h) => h === holder.vm.resident_on) : plugged;
}

export function nbdInfo(
  db: Database,
  vdi: string,
  sessionRef: string,
  certificateOf: CertificateOf,
): NbdServerInfo[] {
  const row = db.mustGet('VDI', vdi);
  if (row.type === 'cbt_metadata') throw new XenApiError('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata']);
  const hosts = servingHosts(db, vdi);
  const nbdNetworks = new Set(
    [...db.all('network').entries()]
      .filter(([, n]) => ((n.purpose as string[]) ?? []).some((p) => NBD_PURPOSES.has(p)))
      .map(([ref]) => ref),
  );
  const exportname = `/${row.uuid}?session_id=${sessionRef}`;
  const out: NbdServerInfo[] = [];
  for (const host of hosts) {
    const ips = [...db.all('PIF').values()]
      .filter((p) => p.host === host && p.currently_attached === true && nbdNetworks.has(String(p.network)))
      .flatMap(ipsOf);
    if (!ips.length) continue;
    const cert = certificateOf(host);
    if (!cert) continue; // a member whose certificate the master does not know yet: not offered
    const subject = pickSubject(certificateHostnames(cert)) ?? String(db.get('host', host)?.hostname ?? '');
    for (const address of ips) out.push({ exportname, address, port: NBD_PORT, cert, subject });
  }
  return out;
}
