// QEMU's TLS credentials for a migration stream, made for that one migration: the destination's
// agent creates a throwaway CA, signs one certificate for its own address with it (usable as
// server and client) and throws the CA key away; its QEMU trusts only that CA, and the source's
// QEMU gets the CA and the certificate with its key (IncomingMigration.tls, through the manager).
// So each end verifies the other against the migration's own CA, and the host's pool key never
// lands where a QEMU (which runs the guest) could read it. The files go under QEMU's names into
// the VM's QEMU-owned migration dir (qemu-dir.ts; 0600, the VM's QEMU uid), loaded as a
// tls-creds-x509 object with verify-peer on.
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import type { IncomingMigration } from '../../shared/host/migration.js';
import { CA_CERT, createPoolCa, HOST_CERT, HOST_KEY, issueHostCert } from '../../shared/pki/pool-pki.js';
import type { Owner } from '../qemu/dac.js';

export type TlsEndpoint = 'server' | 'client';
export type MigrationCreds = NonNullable<IncomingMigration['tls']>;

/** The QOM id of the credentials object in a migrating QEMU. */
export const TLS_CREDS_ID = 'berth-migration-tls';

/** QEMU's file name → its content, for one end (pure). */
export function credsFiles(endpoint: TlsEndpoint, creds: MigrationCreds): Record<string, string> {
  return {
    'ca-cert.pem': creds.ca,
    [`${endpoint}-cert.pem`]: creds.cert,
    [`${endpoint}-key.pem`]: creds.key,
  };
}

/** The `object-add` arguments of the credentials in `dir` (pure). */
export function tlsCredsObject(dir: string, endpoint: TlsEndpoint): Record<string, unknown> {
  return { 'qom-type': 'tls-creds-x509', id: TLS_CREDS_ID, dir, endpoint, 'verify-peer': true };
}

/**
 * New credentials for one migration to `address` (this host's): a CA whose key is deleted once
 * it has signed the one certificate (CN = the VM's uuid, SAN = address). Made in a private
 * temporary dir (root's, 0700) removed before returning.
 */
export async function makeMigrationCreds(vmUuid: string, address: string): Promise<MigrationCreds> {
  const tmp = mkdtempSync(join(tmpdir(), 'berth-migration-ca-'));
  try {
    const ca = join(tmp, 'ca');
    const leaf = join(tmp, 'leaf');
    await createPoolCa(ca, 'Berth migration');
    await issueHostCert(ca, vmUuid, address, leaf);
    const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
    return { ca: read(ca, CA_CERT), cert: read(leaf, HOST_CERT), key: read(leaf, HOST_KEY) };
  } catch (e) {
    throw new XenApiError('VM_MIGRATE_FAILED', [
      vmUuid,
      '',
      '',
      `cannot make the migration's certificates: ${e instanceof Error ? e.message : String(e)}`,
    ]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes one end's credentials into `dir` for QEMU's user `who` (root when undefined). */
export function stageTlsCreds(
  creds: MigrationCreds,
  dir: string,
  endpoint: TlsEndpoint,
  who: Owner | undefined,
): void {
  for (const [name, content] of Object.entries(credsFiles(endpoint, creds))) {
    const to = join(dir, name);
    writeFileSync(to, content, { mode: 0o600 });
    chmodSync(to, 0o600);
    if (who) chownSync(to, who.uid, who.gid);
  }
}
