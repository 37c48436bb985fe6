// The self-signed certificate xapi-like hosts serve HTTPS with, generated at first start by
// openssl (argument array; the key never leaves the data directory, mode 0600).
import { existsSync, mkdirSync, readFileSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { runChecked } from '../shared/exec.js';
import { selfSignedCertArgs } from '../shared/pki/self-signed.js';

export async function ensureSelfSignedCert(
  certFile: string,
  keyFile: string,
  hostname: string,
  address: string,
) {
  if (existsSync(certFile) && existsSync(keyFile)) return;
  mkdirSync(dirname(certFile), { recursive: true, mode: 0o700 });
  mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
  const san = [`DNS:${hostname}`, 'DNS:localhost', 'IP:127.0.0.1'];
  if (/^[\d.]+$/.test(address) && address !== '127.0.0.1') san.push(`IP:${address}`);
  await runChecked(
    'openssl',
    selfSignedCertArgs({ commonName: hostname, days: 3650, subjectAltNames: san, keyFile, certFile }),
    { timeoutMs: 30_000 },
  );
  chmodSync(keyFile, 0o600);
}

export function loadTls(certFile: string, keyFile: string) {
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
