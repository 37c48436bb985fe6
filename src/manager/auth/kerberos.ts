// Kerberos as the manager's external authentication (auth_type `kerberos`): the configuration
// a host keeps in external_auth_configuration, and the SPNEGO acceptor that turns an
// `Authorization: Negotiate <token>` header into a client principal. The GSSAPI binding (the
// `kerberos` npm addon, MIT libgssapi_krb5) is imported only when a Negotiate login arrives or
// Kerberos is enabled: a manager without Kerberos never loads it.
import { constants } from 'node:fs';
import { access, open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';

export const KERBEROS_AUTH_TYPE = 'kerberos';
/** A principal's subject_identifier is this prefix + the principal (`kerberos:alice@REALM`). */
export const KERBEROS_SUBJECT_PREFIX = 'kerberos:';

export interface KerberosConfig {
  /** Absolute path of the service keytab, inside the keytab root. */
  keytab: string;
  /** Principals must be of this realm (empty: any realm the keytab's service accepts). */
  realm: string;
  /** The service part of the acceptor principal (`HTTP` for `HTTP/host@REALM`). */
  service: string;
}

const SERVICE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const REALM_RE = /^[A-Za-z0-9._-]{1,255}$/;

/** The directory a keytab must live in: `<data dir>/kerberos` (copied there by the admin). */
export function keytabRoot(dataDir: string): string {
  return join(dataDir, 'kerberos');
}

export function subjectIdentifierOf(principal: string): string {
  return `${KERBEROS_SUBJECT_PREFIX}${principal}`;
}

export function isExternalIdentifier(identifier: string): boolean {
  return identifier.startsWith(KERBEROS_SUBJECT_PREFIX);
}

/** Thrown with a message fit for AUTH_ENABLE_FAILED. */
export class KerberosConfigError extends Error {}

/**
 * Checks an enable_external_auth config: `keytab` (a file name or path inside the keytab root,
 * readable, an MIT keytab), optional `realm` (else service_name), optional `service` (HTTP).
 */
export async function parseKerberosConfig(
  config: Record<string, string>,
  serviceName: string,
  root: string,
): Promise<KerberosConfig> {
  const given = config.keytab ?? '';
  if (!given) throw new KerberosConfigError('config:keytab is required');
  const service = config.service || 'HTTP';
  if (!SERVICE_RE.test(service)) throw new KerberosConfigError(`invalid config:service ${service}`);
  const realm = config.realm || serviceName;
  if (realm && !REALM_RE.test(realm)) throw new KerberosConfigError(`invalid realm ${realm}`);
  const keytab = await confinedKeytab(given, root);
  return { keytab, realm, service };
}

/** The keytab's real path if it is a readable keytab file inside `root`. */
async function confinedKeytab(given: string, root: string): Promise<string> {
  const outside = new KerberosConfigError(`the keytab must be a file in ${root}`);
  let real: string;
  let realRoot: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(isAbsolute(given) ? given : join(root, given));
  } catch {
    throw new KerberosConfigError(`keytab not found: ${given} (keytabs live in ${root})`);
  }
  const rel = relative(realRoot, real);
  if (!rel || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) throw outside;
  if (!(await stat(real)).isFile()) throw outside;
  try {
    await access(real, constants.R_OK);
  } catch {
    throw new KerberosConfigError(`keytab not readable by the manager: ${given}`);
  }
  if (!(await isKeytab(real))) throw new KerberosConfigError(`not a keytab: ${given}`);
  return real;
}

/** MIT's file keytab format: version 0x05 0x02 (0x05 0x01: the old host-order one). */
async function isKeytab(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x05 && (head[1] === 0x02 || head[1] === 0x01);
  } finally {
    await fh.close();
  }
}

/** The config as stored in host.external_auth_configuration. */
export function configRecord(c: KerberosConfig): Record<string, string> {
  return { keytab: c.keytab, realm: c.realm, service: c.service };
}

/** Reads a stored configuration back (no file checks: enable did them, accept will fail loudly). */
export function storedConfig(rec: Record<string, string> | undefined): KerberosConfig | undefined {
  if (!rec?.keytab) return undefined;
  return { keytab: rec.keytab, realm: rec.realm ?? '', service: rec.service || 'HTTP' };
}

/** The base64 token of an `Authorization: Negotiate <token>` header; undefined for other schemes. */
export function negotiateToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const m = /^Negotiate(?:\s+(\S*))?\s*$/i.exec(value ?? '');
  return m ? (m[1] ?? '') : undefined;
}

export interface AcceptedContext {
  principal: string;
  /** The acceptor's token for mutual authentication (base64), if GSSAPI produced one. */
  reply?: string;
}

/** A token GSSAPI refused, or a principal/target the configuration does not admit. */
export class NegotiateRejected extends Error {
  constructor(
    message: string,
    readonly principal = '',
  ) {
    super(message);
  }
}

/** `service/host@REALM` → its parts (the host may be absent). */
export function splitPrincipal(name: string): { primary: string; instance?: string; realm: string } {
  const at = name.lastIndexOf('@');
  const local = at >= 0 ? name.slice(0, at) : name;
  const realm = at >= 0 ? name.slice(at + 1) : '';
  const slash = local.indexOf('/');
  return slash >= 0
    ? { primary: local.slice(0, slash), instance: local.slice(slash + 1), realm }
    : { primary: local, realm };
}

/** Why a context accepted by GSSAPI is still refused by the configuration, or undefined. */
export function refusal(c: KerberosConfig, principal: string, target: string): string | undefined {
  const client = splitPrincipal(principal);
  if (!client.realm) return 'the client principal has no realm';
  if (c.realm && client.realm !== c.realm) return `realm ${client.realm} is not ${c.realm}`;
  if (splitPrincipal(target).primary !== c.service)
    return `the ticket is for ${target}, not the ${c.service} service`;
  return undefined;
}

type KerberosModule = typeof import('kerberos');
let binding: Promise<KerberosModule> | undefined;

/** The GSSAPI binding, loaded on first use (AUTH_ENABLE_FAILED / a rejected login when absent). */
export function loadGssapi(): Promise<KerberosModule> {
  binding ??= import('kerberos').then(
    (m) => ((m as { default?: KerberosModule }).default ?? m) as KerberosModule,
  );
  binding.catch(() => {
    binding = undefined;
  });
  return binding;
}

/**
 * Accepts one SPNEGO/Kerberos token with the configured keytab. The acceptor takes any key of
 * the keytab (no host name to canonicalise); the target's service and the client's realm are
 * then checked against the configuration.
 */
export async function acceptNegotiate(c: KerberosConfig, token: string): Promise<AcceptedContext> {
  if (!token || !/^[A-Za-z0-9+/]+={0,2}$/.test(token))
    throw new NegotiateRejected('malformed Negotiate token');
  const gss = await loadGssapi();
  // MIT reads the acceptor keytab from KRB5_KTNAME at each acquisition; the manager has one.
  const ktname = `FILE:${c.keytab}`;
  if (process.env.KRB5_KTNAME !== ktname) process.env.KRB5_KTNAME = ktname;
  let server: Awaited<ReturnType<KerberosModule['initializeServer']>>;
  try {
    server = await gss.initializeServer('');
    await server.step(token);
  } catch (e) {
    throw new NegotiateRejected(e instanceof Error ? e.message : String(e));
  }
  if (!server.contextComplete) throw new NegotiateRejected('the security context needs more steps');
  const principal = server.username;
  const why = refusal(c, principal, server.targetName ?? '');
  if (why) throw new NegotiateRejected(why, principal);
  return { principal, reply: server.response || undefined };
}
