// `berth -k`: logs a client in to the manager through Kerberos (SPNEGO), as oVirtCmd's kerberos
// mode. With `[kerberos] keytab` the initiator credentials come from that client keytab (MIT's
// KRB5_CLIENT_KTNAME: GSSAPI gets the tickets itself) into `ccache` (KRB5CCNAME; a private
// in-memory cache when none is named, so the user's own tickets are left alone); without a
// keytab the existing tickets (kinit) are used. The token is for `HTTP@<manager host>`.
// Loaded lazily (only with -k): it pulls in the native GSSAPI binding.
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { XenApiClient } from '../sdk/client.js';
import { CliError, usageError } from './errors.js';

export interface KerberosOptions {
  /** A client keytab to take the initiator credentials from. */
  keytab?: string;
  /** The credential cache (a path, or TYPE:residual such as MEMORY:x). */
  ccache?: string;
  /** The client principal (default: the cache's, or the keytab's first). */
  principal?: string;
}

/** The service principal of the manager at `url`, in GSSAPI's host-based form. */
export function servicePrincipal(url: string): string {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  return `HTTP@${host}`;
}

/** A ccache name as MIT takes it: a bare path is a FILE cache. */
export function ccacheName(ccache: string): string {
  return /^[A-Z]+:/.test(ccache) ? ccache : `FILE:${resolve(ccache)}`;
}

/** The environment MIT's GSSAPI reads for the given options (the variables to set). */
export async function credentialEnvironment(o: KerberosOptions): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  if (o.keytab) {
    const path = resolve(o.keytab);
    try {
      await access(path, constants.R_OK);
    } catch {
      throw usageError(`kerberos keytab not readable: ${o.keytab}`);
    }
    env.KRB5_CLIENT_KTNAME = `FILE:${path}`;
    // A new memory cache per login: an earlier login's tickets (another principal) are not reused.
    env.KRB5CCNAME = o.ccache ? ccacheName(o.ccache) : `MEMORY:berth-${randomUUID()}`;
  } else if (o.ccache) {
    env.KRB5CCNAME = ccacheName(o.ccache);
  }
  return env;
}

type Gssapi = typeof import('kerberos');

async function loadGssapi(): Promise<Gssapi> {
  try {
    const m = await import('kerberos');
    return ((m as { default?: Gssapi }).default ?? m) as Gssapi;
  } catch (e) {
    throw new CliError(`kerberos support is not installed (npm package kerberos): ${(e as Error).message}`);
  }
}

export async function kerberosLogin(client: XenApiClient, o: KerberosOptions): Promise<void> {
  const url = client.url;
  if (!url) throw usageError('kerberos authentication needs an http(s) url');
  Object.assign(process.env, await credentialEnvironment(o));
  const gss = await loadGssapi();
  let context: Awaited<ReturnType<Gssapi['initializeClient']>>;
  let token: string;
  try {
    context = await gss.initializeClient(servicePrincipal(url), {
      principal: o.principal,
      mechOID: gss.GSS_MECH_OID_SPNEGO,
      gssFlag: gss.GSS_C_MUTUAL_FLAG | gss.GSS_C_SEQUENCE_FLAG,
    });
    token = await context.step('');
  } catch (e) {
    throw new CliError(`kerberos authentication failed: ${(e as Error).message}`);
  }
  await client.loginWithNegotiate(token, {
    originator: 'berth',
    // Mutual authentication: the manager proves it holds the service key.
    verify: async (serverToken) => {
      try {
        if (!serverToken) throw new Error('no Negotiate token in its reply');
        await context.step(serverToken);
        if (!context.contextComplete) throw new Error('the security context is incomplete');
      } catch (e) {
        throw new CliError(`kerberos: the manager did not authenticate itself: ${(e as Error).message}`);
      }
    },
  });
}
