// How the manager reaches an agent: the local agent over its root-only Unix socket, another
// host's agent over TCP with mutual TLS (pool CA as the only trust anchor, this host's pool
// certificate as client certificate; the agent's certificate must carry the expected host uuid
// as CN: names and addresses are not checked, as Ganeti's VERIFYHOST off).
import http from 'node:http';
import https from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { TlsMaterial } from '../pki/pool-pki.js';

/** The agent's TCP port (Ganeti noded's). */
export const AGENT_TCP_PORT = 1811;

/** How long establishing a connection (TCP + TLS handshake) may take, as Ganeti's client: 5 s. */
export const CONNECT_TIMEOUT_MS = 5_000;

export interface TcpTransport extends TlsMaterial {
  host: string;
  port?: number;
  /** The host uuid the agent's certificate must name (CN); any pool certificate when absent. */
  hostUuid?: string;
}

export type AgentTransport = { unix: string } | { tcp: TcpTransport };

/** Transport to another host's agent from this host's PKI material. */
export function tcpTransport(
  host: string,
  material: TlsMaterial,
  hostUuid?: string,
  port = AGENT_TCP_PORT,
): AgentTransport {
  return { tcp: { host, port, hostUuid, ...material } };
}

/** A string is a Unix socket path (the local agent, as before transports). */
export function asTransport(t: string | AgentTransport): AgentTransport {
  return typeof t === 'string' ? { unix: t } : t;
}

/** Human-readable endpoint for messages (never the key). */
export function describeTransport(t: AgentTransport): string {
  return 'unix' in t ? t.unix : `${t.tcp.host}:${t.tcp.port ?? AGENT_TCP_PORT}`;
}

/** Refuses a server certificate naming another host than the one we meant to reach. */
export function checkAgentIdentity(hostUuid: string | undefined, cert: PeerCertificate): Error | undefined {
  if (hostUuid === undefined) return undefined;
  const cn = cert?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (typeof name === 'string' && name.toLowerCase() === hostUuid.toLowerCase()) return undefined;
  return new Error(`agent certificate names ${JSON.stringify(name ?? '')}, not host ${hostUuid}`);
}

/** Opens requests to one agent; `pooled` requests reuse keep-alive connections. */
export class AgentEndpoint {
  readonly transport: AgentTransport;
  private readonly pool: http.Agent;

  constructor(t: string | AgentTransport, maxSockets = 32) {
    this.transport = asTransport(t);
    this.pool =
      'unix' in this.transport
        ? new http.Agent({ keepAlive: true, maxSockets })
        : new https.Agent({ keepAlive: true, maxSockets, ...this.tlsOptions(this.transport.tcp) });
  }

  private tlsOptions(t: TcpTransport): https.AgentOptions {
    return {
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => checkAgentIdentity(t.hostUuid, cert),
    };
  }

  /** A POST to `/<procedure>`; a connection not made within CONNECT_TIMEOUT_MS fails. */
  post(procedure: string, headers: http.OutgoingHttpHeaders, pooled: boolean): http.ClientRequest {
    const t = this.transport;
    const base = { path: `/${procedure}`, method: 'POST', headers };
    const req =
      'unix' in t
        ? http.request({ ...base, socketPath: t.unix, agent: pooled ? this.pool : false })
        : https.request({
            ...base,
            host: t.tcp.host,
            port: t.tcp.port ?? AGENT_TCP_PORT,
            ...(pooled ? { agent: this.pool } : { agent: false, ...this.tlsOptions(t.tcp) }),
          });
    req.on('socket', (s) => {
      if (req.reusedSocket) return;
      const timer = setTimeout(
        () =>
          req.destroy(
            new Error(`connect to ${describeTransport(t)} timed out after ${CONNECT_TIMEOUT_MS} ms`),
          ),
        CONNECT_TIMEOUT_MS,
      );
      const done = () => clearTimeout(timer);
      s.once('unix' in t ? 'connect' : 'secureConnect', done);
      s.once('close', done);
    });
    return req;
  }

  destroy() {
    this.pool.destroy();
  }
}
