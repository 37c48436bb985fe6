// x509_cert_create / x509_cert_remove (ganeti-noded.md §6): a self-signed certificate for this
// host, valid at most 7 days, kept as <dir>/x509-<timestamp>-<random>/{key,cert} (0400) in a
// 0700 directory; the answer is [name, cert_pem], never the key. openssl runs with an argument
// array, as src/shared/pki does.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { selfSignedCertArgs } from '../../shared/pki/self-signed.js';
import { runChecked } from '../../shared/exec.js';
import { failed, invalid } from './failures.js';
import type { HostOpsConfig } from './options.js';

export const X509_MAX_VALIDITY_SEC = 7 * 24 * 3600;
export const X509_NAME = /^x509-[0-9]{14}-[0-9a-f]{16}$/;
const OPENSSL_TIMEOUT_MS = 30_000;

const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);

/** openssl counts days: the validity rounded up to whole days, at least 1. */
export const validityDays = (sec: number) =>
  Math.max(1, Math.ceil(Math.min(sec, X509_MAX_VALIDITY_SEC) / 86400));

export async function x509CertCreate(cfg: HostOpsConfig, validity: unknown): Promise<[string, string]> {
  if (typeof validity !== 'number' || !Number.isFinite(validity) || validity <= 0)
    throw invalid('validity', validity);
  mkdirSync(cfg.x509Dir, { recursive: true, mode: 0o700 });
  chmodSync(cfg.x509Dir, 0o700);
  const name = `x509-${stamp(new Date())}-${randomBytes(8).toString('hex')}`;
  const dir = join(cfg.x509Dir, name);
  mkdirSync(dir, { mode: 0o700 });
  const cn =
    os
      .hostname()
      .replace(/[^A-Za-z0-9.-]/g, '')
      .slice(0, 64) || 'berth-host';
  try {
    await runChecked(
      'openssl',
      selfSignedCertArgs({
        commonName: cn,
        days: validityDays(validity),
        keyFile: join(dir, 'key'),
        certFile: join(dir, 'cert'),
      }),
      { timeoutMs: OPENSSL_TIMEOUT_MS },
    );
    chmodSync(join(dir, 'key'), 0o400);
    chmodSync(join(dir, 'cert'), 0o400);
    return [name, readFileSync(join(dir, 'cert'), 'utf8')];
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw failed(
      'x509_cert_create',
      `Cannot create X509 certificate: ${String((e as Error).message ?? e).slice(0, 300)}`,
    );
  }
}

export function x509CertRemove(cfg: HostOpsConfig, name: unknown): void {
  if (typeof name !== 'string' || !X509_NAME.test(name)) throw invalid('name', name);
  const dir = join(cfg.x509Dir, name);
  if (!existsSync(dir)) throw failed('x509_cert_remove', `X509 certificate '${name}' not found`);
  if (!lstatSync(dir).isDirectory())
    throw failed('x509_cert_remove', `'${name}' is not a certificate directory`);
  for (const f of ['key', 'cert']) rmSync(join(dir, f), { force: true });
  rmSync(dir, { recursive: true, force: true });
}
