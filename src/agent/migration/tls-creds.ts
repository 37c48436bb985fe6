// QEMU's TLS credentials for a migration stream: the pool CA and this host's certificate and key
// (the agent's pkiDir, pool-pki.ts), copied under QEMU's names into the VM's QEMU-owned
// migration dir (qemu-dir.ts; files 0600, the VM's QEMU uid), then loaded as a tls-creds-x509
// object with verify-peer on: each end checks the other's host certificate against the pool CA.
import { chmodSync, chownSync, copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CA_CERT, HOST_CERT, HOST_KEY } from '../../shared/pki/pool-pki.js';
import type { Owner } from '../qemu/dac.js';

export type TlsEndpoint = 'server' | 'client';

/** The QOM id of the credentials object in a migrating QEMU. */
export const TLS_CREDS_ID = 'berth-migration-tls';

/** QEMU's file name → the pkiDir file it is a copy of, for one end (pure). */
export function credsFiles(endpoint: TlsEndpoint): Record<string, string> {
  return {
    'ca-cert.pem': CA_CERT,
    [`${endpoint}-cert.pem`]: HOST_CERT,
    [`${endpoint}-key.pem`]: HOST_KEY,
  };
}

/** The `object-add` arguments of the credentials in `dir` (pure). */
export function tlsCredsObject(dir: string, endpoint: TlsEndpoint): Record<string, unknown> {
  return { 'qom-type': 'tls-creds-x509', id: TLS_CREDS_ID, dir, endpoint, 'verify-peer': true };
}

/** Copies this host's TLS material into `dir` for QEMU's user `who` (root when undefined). */
export function stageTlsCreds(
  pkiDir: string | undefined,
  dir: string,
  endpoint: TlsEndpoint,
  who: Owner | undefined,
): void {
  if (!pkiDir || !Object.values(credsFiles(endpoint)).every((f) => existsSync(join(pkiDir, f))))
    // The callers wrap it as VM_MIGRATE_FAILED [uuid, …].
    throw new Error(
      `this host has no pool certificate${pkiDir ? ` in ${pkiDir}` : ''}: cannot migrate over TLS`,
    );
  for (const [name, from] of Object.entries(credsFiles(endpoint))) {
    const to = join(dir, name);
    copyFileSync(join(pkiDir, from), to);
    chmodSync(to, 0o600);
    if (who) chownSync(to, who.uid, who.gid);
  }
}
