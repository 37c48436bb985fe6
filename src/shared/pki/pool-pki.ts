// The pool's certificates, as Ganeti's cluster certificate: one pool CA, and per host one
// certificate it signed (CN = the host's uuid, SAN = its address) that serves as that host's
// agent server certificate and as its manager's client certificate (any member may become
// master). Certificates are made by the `openssl` CLI (argument arrays): Node 20's crypto reads
// and verifies X.509 but cannot create it. Keys are written 0600 into a 0700 directory, and every
// file is installed by rename, so a reader never sees half a set.
//
// Layout of a PKI directory (the same on every member; see docs/agent.md "Transport"):
//   pool-ca.pem   the pool CA certificate (trust anchor of both daemons)
//   pool-ca.key   the pool CA key (every member keeps it: any member may become master)
//   host.pem      this host's certificate, signed by the pool CA
//   host.key      its key
import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { runChecked } from '../exec.js';

export const CA_CERT = 'pool-ca.pem';
export const CA_KEY = 'pool-ca.key';
export const HOST_CERT = 'host.pem';
export const HOST_KEY = 'host.key';

/** Validity of pool CA and host certificates (as xapi's and Ganeti's: long-lived, renewed on demand). */
const DAYS = '3650';
const OPENSSL_TIMEOUT_MS = 30_000;
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** PEM material a TLS endpoint needs: the pool CA, this host's certificate and key. */
export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/** What a host receives when it joins: its TLS material, plus the CA key for when it becomes master. */
export interface PoolCredentials extends TlsMaterial {
  caKey?: string;
}

/** `subjectAltName` value for a host address (IP or DNS name); throws for anything else. */
export function subjectAltName(address: string): string {
  if (isIP(address)) return `IP:${address}`;
  if (HOSTNAME_RE.test(address)) return `DNS:${address}`;
  throw new Error(`not a host address: ${JSON.stringify(address).slice(0, 80)}`);
}

/** Creates a directory only root may enter (0700), or tightens an existing one. */
function privateDir(dir: string) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Runs `fill(tmp)` in a fresh 0700 directory under `dir`, then renames its files into `dir`. */
async function installFrom(dir: string, names: string[], fill: (tmp: string) => Promise<void> | void) {
  privateDir(dir);
  const tmp = mkdtempSync(join(dir, '.new-'));
  try {
    await fill(tmp);
    for (const n of names) {
      if (n.endsWith('.key')) chmodSync(join(tmp, n), 0o600);
      else chmodSync(join(tmp, n), 0o644);
    }
    for (const n of names) renameSync(join(tmp, n), join(dir, n));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Creates a new pool CA (key + self-signed certificate) in `dir` (pool-ca.pem, pool-ca.key).
 * `label` goes into the subject so an operator can tell pools apart (e.g. the pool uuid).
 */
export async function createPoolCa(dir: string, label = 'Berth pool'): Promise<void> {
  const safe = label.replace(/[^A-Za-z0-9 ._-]/g, '').slice(0, 60) || 'Berth pool';
  await installFrom(dir, [CA_CERT, CA_KEY], (tmp) =>
    runChecked(
      'openssl',
      [
        'req',
        '-x509',
        ...EC_KEY,
        '-days',
        DAYS,
        '-subj',
        `/O=${safe}/CN=Berth pool CA`,
        '-addext',
        'basicConstraints=critical,CA:TRUE,pathlen:0',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-keyout',
        join(tmp, CA_KEY),
        '-out',
        join(tmp, CA_CERT),
      ],
      { timeoutMs: OPENSSL_TIMEOUT_MS },
    ).then(() => undefined),
  );
}

/**
 * Issues a host certificate signed by the CA in `caDir` (CN = hostUuid, SAN = address, usable
 * as TLS server and client), and writes host.pem, host.key and a copy of pool-ca.pem to `outDir`
 * (which may be `caDir` itself). Returns the material written.
 */
export async function issueHostCert(
  caDir: string,
  hostUuid: string,
  address: string,
  outDir: string,
): Promise<TlsMaterial> {
  if (!UUID_RE.test(hostUuid)) throw new Error(`not a host uuid: ${JSON.stringify(hostUuid).slice(0, 80)}`);
  const san = subjectAltName(address);
  const caCert = join(caDir, CA_CERT);
  const caKey = join(caDir, CA_KEY);
  if (!existsSync(caCert) || !existsSync(caKey)) throw new Error(`no pool CA in ${caDir}`);
  const ca = readFileSync(caCert, 'utf8');
  await installFrom(outDir, [HOST_CERT, HOST_KEY, CA_CERT], async (tmp) => {
    await runChecked(
      'openssl',
      [
        'req',
        '-x509',
        ...EC_KEY,
        '-days',
        DAYS,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-subj',
        `/CN=${hostUuid.toLowerCase()}`,
        '-addext',
        `subjectAltName=${san}`,
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-addext',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        '-addext',
        'extendedKeyUsage=serverAuth,clientAuth',
        '-keyout',
        join(tmp, HOST_KEY),
        '-out',
        join(tmp, HOST_CERT),
      ],
      { timeoutMs: OPENSSL_TIMEOUT_MS },
    );
    writeFileSync(join(tmp, CA_CERT), ca);
  });
  return loadTlsMaterial(outDir);
}

/** Reads the TLS material of a PKI directory; throws naming the missing file. */
export function loadTlsMaterial(dir: string): TlsMaterial {
  const read = (n: string) => {
    const p = join(dir, n);
    if (!existsSync(p)) throw new Error(`missing ${p}`);
    return readFileSync(p, 'utf8');
  };
  return { ca: read(CA_CERT), cert: read(HOST_CERT), key: read(HOST_KEY) };
}

/** Whether `dir` holds a complete set of TLS material. */
export function hasTlsMaterial(dir: string): boolean {
  return [CA_CERT, HOST_CERT, HOST_KEY].every((n) => existsSync(join(dir, n)));
}

/** Reads everything a joining host must receive: TLS material plus the CA key where present. */
export function loadPoolCredentials(dir: string): PoolCredentials {
  const m: PoolCredentials = loadTlsMaterial(dir);
  const k = join(dir, CA_KEY);
  if (existsSync(k)) m.caKey = readFileSync(k, 'utf8');
  return m;
}

/**
 * Checks that the certificate was issued by the CA (signature included), that the key is the
 * certificate's, that the CA key (when given) is the CA's, and that both certificates are valid
 * at `now`. Returns the certificate's CN.
 */
export function checkTlsMaterial(m: PoolCredentials, now = Date.now()): string {
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(m.ca);
    cert = new X509Certificate(m.cert);
  } catch (e) {
    throw new Error(`unreadable certificate: ${(e as Error).message}`);
  }
  if (!ca.ca) throw new Error('the pool CA certificate is not a CA');
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    throw new Error('the host certificate was not issued by the pool CA');
  if (!cert.checkPrivateKey(createPrivateKey(m.key)))
    throw new Error('the host key does not match its certificate');
  if (m.caKey && !ca.checkPrivateKey(createPrivateKey(m.caKey)))
    throw new Error('the CA key does not match the CA certificate');
  for (const [what, c] of [
    ['pool CA', ca],
    ['host', cert],
  ] as const)
    if (now < Date.parse(c.validFrom) || now > Date.parse(c.validTo))
      throw new Error(`the ${what} certificate is not valid now (${c.validFrom} to ${c.validTo})`);
  return commonName(cert.subject) ?? '';
}

/** Installs checked credentials into a PKI directory (atomically per file; keys 0600). */
export async function installPoolCredentials(dir: string, m: PoolCredentials): Promise<void> {
  checkTlsMaterial(m);
  const files: [string, string][] = [
    [CA_CERT, m.ca],
    [HOST_CERT, m.cert],
    [HOST_KEY, m.key],
  ];
  if (m.caKey) files.push([CA_KEY, m.caKey]);
  await installFrom(
    dir,
    files.map(([n]) => n),
    (tmp) => {
      for (const [n, text] of files)
        writeFileSync(join(tmp, n), text, { mode: n.endsWith('.key') ? 0o600 : 0o644 });
    },
  );
  // A CA key from an earlier pool must not outlive the move to a pool that did not send one.
  if (!m.caKey) rmSync(join(dir, CA_KEY), { force: true });
}

/** The CN of an X.509 subject as Node prints it ("CN=..." lines). */
export function commonName(subject: string): string | undefined {
  for (const line of subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

/**
 * A standalone host is a pool of one (as in xapi): at first start it gets its own pool CA and a
 * certificate from it, both replaced when it joins a pool. Returns whether anything was created.
 */
export async function ensureHostPki(dir: string, hostUuid: string, address: string): Promise<boolean> {
  if (hasTlsMaterial(dir)) return false;
  await createPoolCa(dir, `Berth pool of ${hostUuid.slice(0, 8)}`);
  await issueHostCert(dir, hostUuid, address, dir);
  return true;
}
