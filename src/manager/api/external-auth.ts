// External authentication as xapi manages it: {pool,host}.{enable,disable}_external_auth set
// host.external_auth_type / _service_name / _configuration. Berth knows one type, `kerberos`
// (auth/kerberos.ts): config:keytab names the service keytab in <data dir>/kerberos,
// config:realm (else service_name) the principals' realm, config:service the service (HTTP).
// Principals then log in over SPNEGO (auth/negotiate.ts) as the subjects whose
// subject_identifier is `kerberos:<principal>`, with those subjects' roles.
import { XenApiError } from '../../shared/errors.js';
import {
  configRecord,
  KERBEROS_AUTH_TYPE,
  KerberosConfigError,
  keytabRoot,
  loadGssapi,
  parseKerberosConfig,
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
  },
};
