// External authentication as xapi manages it: {pool,host}.{enable,disable}_external_auth set
// host.external_auth_type / _service_name / _configuration. Berth knows one type, `kerberos`
// (auth/kerberos.ts): config:keytab names the service keytab in <data dir>/kerberos,
// config:realm (else service_name) the principals' realm, config:service the service (HTTP).
// Principals then log in over SPNEGO (auth/negotiate.ts) as the subjects whose
// subject_identifier is `kerberos:<principal>`, with those subjects' roles; auth.* resolves
// principal names to those identifiers (what `xe subject-add subject-name=` asks).
import { XenApiError } from '../../shared/errors.js';
import {
  configRecord,
  KERBEROS_AUTH_TYPE,
  KERBEROS_SUBJECT_PREFIX,
  KerberosConfigError,
  keytabRoot,
  loadGssapi,
  parseKerberosConfig,
  splitPrincipal,
  storedConfig,
  subjectIdentifierOf,
} from '../auth/kerberos.js';
import type { CallContext, HandlerTable } from './context.js';

async function enableOn(
  ctx: CallContext,
  hosts: string[],
  config: Record<string, string>,
  serviceName: string,
  authType: string,
) {
  const { db } = ctx.svc;
  for (const host of hosts) {
    const row = db.mustGet('host', host);
    if (row.external_auth_type)
      throw new XenApiError('AUTH_ALREADY_ENABLED', [
        String(row.external_auth_type),
        String(row.external_auth_service_name ?? ''),
      ]);
  }
  if (authType !== KERBEROS_AUTH_TYPE) throw new XenApiError('AUTH_UNKNOWN_TYPE', [authType]);
  let parsed: Awaited<ReturnType<typeof parseKerberosConfig>>;
  try {
    parsed = await parseKerberosConfig(config, serviceName, keytabRoot(ctx.svc.dataDir));
    await loadGssapi().catch(() => {
      throw new KerberosConfigError('the GSSAPI binding (npm package kerberos) is not installed');
    });
  } catch (e) {
    if (e instanceof KerberosConfigError) throw new XenApiError('AUTH_ENABLE_FAILED', [e.message]);
    throw e;
  }
  for (const host of hosts)
    db.update('host', host, {
      external_auth_type: KERBEROS_AUTH_TYPE,
      external_auth_service_name: serviceName,
      external_auth_configuration: configRecord(parsed),
    });
}

function disableOn(ctx: CallContext, hosts: string[]) {
  const enabled = hosts.filter((h) => ctx.svc.db.mustGet('host', h).external_auth_type);
  if (enabled.length === 0) throw new XenApiError('AUTH_IS_DISABLED', []);
  for (const host of enabled)
    ctx.svc.db.update('host', host, {
      external_auth_type: '',
      external_auth_service_name: '',
      external_auth_configuration: {},
    });
  // As xapi: the externally authenticated sessions end with the service that admitted them.
  ctx.svc.sessions.logoutExternal();
}

/** This host's Kerberos configuration, or AUTH_IS_DISABLED. */
function kerberosOn(ctx: CallContext) {
  const host = ctx.svc.db.mustGet('host', ctx.svc.hostRef());
  const c =
    host.external_auth_type === KERBEROS_AUTH_TYPE
      ? storedConfig(host.external_auth_configuration as Record<string, string>)
      : undefined;
  if (!c) throw new XenApiError('AUTH_IS_DISABLED', []);
  return c;
}

const PRINCIPAL_RE = /^[^\s@/]+(\/[^\s@/]+)?(@[A-Za-z0-9._-]+)?$/;

/**
 * auth.get_subject_identifier: a principal name (the realm added when absent) → its identifier.
 * A KDC has no directory to ask, so any well-formed name of the configured realm resolves.
 */
function subjectIdentifier(ctx: CallContext, name: string): string {
  const c = kerberosOn(ctx);
  if (!PRINCIPAL_RE.test(name)) throw new XenApiError('SUBJECT_CANNOT_BE_RESOLVED', []);
  const realm = splitPrincipal(name).realm;
  if (!realm && !c.realm) throw new XenApiError('SUBJECT_CANNOT_BE_RESOLVED', []);
  if (realm && c.realm && realm !== c.realm) throw new XenApiError('SUBJECT_CANNOT_BE_RESOLVED', []);
  return subjectIdentifierOf(realm ? name : `${name}@${c.realm}`);
}

/** The principal a Kerberos subject identifier names, or SUBJECT_CANNOT_BE_RESOLVED. */
function principalOf(ctx: CallContext, identifier: string): string {
  kerberosOn(ctx);
  const principal = identifier.slice(KERBEROS_SUBJECT_PREFIX.length);
  if (!identifier.startsWith(KERBEROS_SUBJECT_PREFIX) || !PRINCIPAL_RE.test(principal))
    throw new XenApiError('SUBJECT_CANNOT_BE_RESOLVED', []);
  return principal;
}

const allHosts = (ctx: CallContext) => [...ctx.svc.db.all('host')].map(([ref]) => ref);

export const externalAuthApi: HandlerTable = {
  handlers: {
    'pool.enable_external_auth': (ctx, pool, config, serviceName, authType) => {
      ctx.svc.db.mustGet('pool', pool);
      return enableOn(ctx, allHosts(ctx), config, serviceName, authType);
    },
    // config: xapi passes it to the auth plugin (an AD account to leave the domain with); unused.
    'pool.disable_external_auth': (ctx, pool, _config) => {
      ctx.svc.db.mustGet('pool', pool);
      disableOn(ctx, allHosts(ctx));
    },
    'host.enable_external_auth': (ctx, host, config, serviceName, authType) =>
      enableOn(ctx, [host], config, serviceName, authType),
    'host.disable_external_auth': (ctx, host, _config, _force) => disableOn(ctx, [host]),
    'auth.get_subject_identifier': (ctx, name) => subjectIdentifier(ctx, name),
    'auth.get_subject_information_from_identifier': (ctx, identifier) => {
      const principal = principalOf(ctx, identifier);
      // The keys xapi's plugins report that apply to a principal (no directory behind a KDC).
      return {
        'subject-name': principal,
        'subject-upn': principal,
        'subject-uid': identifier,
        'subject-is-group': 'false',
        'subject-account-disabled': 'false',
        'subject-account-locked': 'false',
        'subject-account-expired': 'false',
        'subject-password-expired': 'false',
      };
    },
    // Kerberos tickets carry no groups (MIT's have no PAC): every principal is its own subject.
    'auth.get_group_membership': (ctx, identifier) => {
      principalOf(ctx, identifier);
      return [];
    },
  },
};
