// The agent's side of pool certificates: the TCP listener's address and PKI directory, starting
// the listener when the material is there, and `tls_install`, the local-only procedure (Unix
// socket, never TCP) by which this host's manager hands over the pool's CA and this host's new
// certificate when it joins a pool; the listener restarts with them, dropping every peer of the
// previous pool.
import { XenApiError } from '../shared/errors.js';
import { logger } from '../shared/log.js';
import { AGENT_TCP_PORT } from '../shared/noded/transport.js';
import {
  checkTlsMaterial,
  hasTlsMaterial,
  installPoolCredentials,
  loadTlsMaterial,
  type PoolCredentials,
} from '../shared/pki/pool-pki.js';
import type { AgentServer, Procedure } from './server.js';

const log = logger('agent-tls');

export interface TcpOptions {
  host: string;
  port: number;
  /** Directory of pool-ca.pem, host.pem, host.key (pool-pki.ts). */
  pkiDir: string;
}

/** Parses `ADDR`, `ADDR:PORT` or `[IPv6]:PORT` (port 1811 when absent). */
export function parseListenAddress(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(s.trim());
  const port = m?.[3] === undefined ? AGENT_TCP_PORT : Number(m[3]);
  if (!m || port > 65535) throw new Error(`not an ADDR[:PORT]: ${JSON.stringify(s).slice(0, 80)}`);
  return { host: m[1] ?? m[2], port };
}

/** Opens the TCP listener if this host has pool certificates; without them it waits for tls_install. */
export async function startTcp(server: AgentServer, opts: TcpOptions): Promise<boolean> {
  if (!hasTlsMaterial(opts.pkiDir)) {
    log.warn('no pool certificate yet: TCP listener not started', { pkiDir: opts.pkiDir });
    return false;
  }
  await server.listenTcp(opts.host, opts.port, loadTlsMaterial(opts.pkiDir));
  return true;
}

function credentials(v: unknown): PoolCredentials {
  const o = v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  for (const k of ['ca', 'cert', 'key'])
    if (typeof o[k] !== 'string') throw new XenApiError('INVALID_VALUE', [k, 'missing or not a PEM string']);
  if (o.caKey !== undefined && typeof o.caKey !== 'string')
    throw new XenApiError('INVALID_VALUE', ['caKey', 'not a PEM string']);
  return {
    ca: o.ca as string,
    cert: o.cert as string,
    key: o.key as string,
    caKey: o.caKey as string | undefined,
  };
}

/** Local-only procedures (served on the Unix socket alone). */
export function localTlsProcedures(server: AgentServer, pkiDir: string, tcp?: Omit<TcpOptions, 'pkiDir'>) {
  const procs: Record<string, Procedure> = {
    /** tls_install({ca, cert, key, caKey?}) -> {host_uuid, tcp_port}: checked, written, listener restarted. */
    tls_install: async (arg: unknown) => {
      const creds = credentials(arg);
      let cn: string;
      try {
        cn = checkTlsMaterial(creds);
      } catch (e) {
        throw new XenApiError('INVALID_VALUE', ['certificate', (e as Error).message]);
      }
      await installPoolCredentials(pkiDir, creds);
      if (tcp) await server.listenTcp(tcp.host, tcp.port, loadTlsMaterial(pkiDir));
      log.info('pool certificate installed', { host: cn, tcp: server.tcpAddress?.port ?? null });
      return { host_uuid: cn, tcp_port: server.tcpAddress?.port ?? null };
    },
  };
  return procs;
}
