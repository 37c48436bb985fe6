// Manager configuration from command-line flags and environment variables (flags win).
// Every option is documented in docs/configuration.md.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LOGIN_POLICY_FLAGS, type LoginPolicy, loginPolicyFrom } from './auth/login-throttle.js';

export interface ManagerConfig {
  dataDir: string;
  /** Addresses to listen on for HTTP/HTTPS (default all). */
  listen: string;
  /** Plain-HTTP port (xapi: 80); null = off. */
  httpPort: number | null;
  /** HTTPS port (xapi: 443); null = off. */
  httpsPort: number | null;
  tlsCert: string;
  tlsKey: string;
  /** Local Unix socket: HTTP over AF_UNIX, password-less superuser logins. */
  socketPath: string;
  /** Symlinks to socketPath at xapi's local socket paths, for scripts using XenAPI.xapi_local(). */
  xapiLocalLinks: string[];
  agentSocket: string;
  /** This host's pool certificates (shared with its agent: pool-ca.pem, host.pem, host.key). */
  pkiDir: string;
  /** The TCP port of every member's agent (mutual TLS). */
  agentPort: number;
  /** Kernel and initramfs of the test guest the default template boots. */
  guestDir: string;
  authFailureDelayMs: number;
  /** Password-guessing limits (docs/configuration.md). */
  loginPolicy: LoginPolicy;
  maxBodyBytes: number;
  /** The public NBD server's TCP port (VDI.get_nbd_info; xapi-nbd: 10809); null = off. */
  nbdPort: number | null;
  /** File holding the read-only scrape token of GET /metrics (Bearer); null = none. */
  metricsTokenFile: string | null;
  /** Directory of storage plugins loaded at start (docs/storage-plugins.md); null = off. */
  storagePluginDir: string | null;
  /** npm package names of storage plugins loaded at start. */
  storagePluginPackages: string[];
}

const OPTIONS = {
  'data-dir': { type: 'string' },
  listen: { type: 'string' },
  'http-port': { type: 'string' },
  'https-port': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  socket: { type: 'string' },
  'xapi-local-links': { type: 'string' },
  'agent-socket': { type: 'string' },
  'pki-dir': { type: 'string' },
  'agent-port': { type: 'string' },
  'guest-dir': { type: 'string' },
  'nbd-port': { type: 'string' },
  'metrics-token-file': { type: 'string' },
  'storage-plugin-dir': { type: 'string' },
  'storage-plugins': { type: 'string' },
  'auth-failure-delay-ms': { type: 'string' },
  ...(Object.fromEntries(LOGIN_POLICY_FLAGS.map(([flag]) => [flag, { type: 'string' }])) as Record<
    string,
    { type: 'string' }
  >),
  help: { type: 'boolean' },
} as const;

export const USAGE = `Usage: berth-manager [options]
  --data-dir DIR            database, TLS certificate, root password file  [BERTH_DATA_DIR, /var/lib/berth]
  --listen ADDR             address for HTTP and HTTPS                      [BERTH_LISTEN, ::]
  --http-port N|off         plain HTTP port                                 [BERTH_HTTP_PORT, 80]
  --https-port N|off        HTTPS port (self-signed certificate by default) [BERTH_HTTPS_PORT, 443]
  --tls-cert FILE           PEM certificate                                 [BERTH_TLS_CERT, DATA/tls/server.crt]
  --tls-key FILE            PEM private key                                 [BERTH_TLS_KEY, DATA/tls/server.key]
  --socket PATH             local Unix socket (password-less root)          [BERTH_XAPI_SOCKET, /run/berth/xapi.sock]
  --xapi-local-links P,..|off symlinks to the socket at xapi's paths        [BERTH_XAPI_LOCAL_LINKS, see docs]
  --agent-socket PATH       the host agent's Unix socket                    [BERTH_AGENT_SOCKET, /run/berth/agent.sock]
  --pki-dir DIR             pool certificates (shared with the agent)       [BERTH_PKI_DIR, DATA-DIR/pki]
  --agent-port N            TCP port of the pool members' agents (mTLS)     [BERTH_AGENT_PORT, 1811]
  --guest-dir DIR           test guest kernel/initramfs (default template)  [BERTH_GUEST_DIR, DATA/guest]
  --nbd-port N|off          NBD server for VDI.get_nbd_info (TLS: HTTPS cert) [BERTH_NBD_PORT, 10809]
  --metrics-token-file FILE|off read-only Bearer token for GET /metrics     [BERTH_METRICS_TOKEN_FILE, off]
  --storage-plugin-dir DIR|off storage plugins loaded at start           [BERTH_STORAGE_PLUGIN_DIR, DATA/storage-plugins]
  --storage-plugins PKG,..  npm packages of storage plugins                 [BERTH_STORAGE_PLUGINS, none]
  --auth-failure-delay-ms N delay before a failed login answers             [BERTH_AUTH_FAILURE_DELAY_MS, 5000]
  --auth-window-ms N, --auth-account-backoff-after N, --auth-address-backoff-after N,
  --auth-backoff-base-ms N, --auth-backoff-cap-ms N, --auth-lockout-after N, --auth-lockout-ms N
                            password-guessing limits (docs/configuration.md)
`;

const DEFAULT_SOCKET = '/run/berth/xapi.sock';
/** Where xapi's own local socket lives (and where XenAPI bindings' xapi_local() looks). */
export const XAPI_LOCAL_PATHS = ['/var/lib/xcp/xapi', '/var/xapi/xapi'];

/**
 * The links default to xapi's paths only for the manager on the standard socket: a side
 * instance (a test, a benchmark) on its own socket must not take the host's xapi paths.
 */
function xapiLocalLinks(v: string | undefined, socketPath: string): string[] {
  if (v === undefined || v === '') return socketPath === DEFAULT_SOCKET ? [...XAPI_LOCAL_PATHS] : [];
  if (v === 'off') return [];
  const paths = v.split(',');
  for (const p of paths) if (!p.startsWith('/')) throw new Error(`invalid --xapi-local-links path: ${p}`);
  return paths;
}

function optionalFile(v: string | undefined): string | null {
  return v === undefined || v === '' || v === 'off' ? null : v;
}

function pluginDir(v: string | undefined, dataDir: string): string | null {
  if (v === undefined || v === '') return join(dataDir, 'storage-plugins');
  return v === 'off' ? null : v;
}

function port(v: string | undefined, dflt: number | null): number | null {
  if (v === undefined || v === '') return dflt;
  if (v === 'off') return null;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port: ${v}`);
  return n;
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ManagerConfig & { help: boolean } {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  const dataDir = values['data-dir'] ?? env.BERTH_DATA_DIR ?? '/var/lib/berth';
  const delay = Number(values['auth-failure-delay-ms'] ?? env.BERTH_AUTH_FAILURE_DELAY_MS ?? 5000);
  if (!Number.isFinite(delay) || delay < 0) throw new Error('invalid --auth-failure-delay-ms');
  const socketPath = values.socket ?? env.BERTH_XAPI_SOCKET ?? DEFAULT_SOCKET;
  return {
    help: values.help ?? false,
    dataDir,
    listen: values.listen ?? env.BERTH_LISTEN ?? '::',
    httpPort: port(values['http-port'] ?? env.BERTH_HTTP_PORT, 80),
    httpsPort: port(values['https-port'] ?? env.BERTH_HTTPS_PORT, 443),
    tlsCert: values['tls-cert'] ?? env.BERTH_TLS_CERT ?? join(dataDir, 'tls/server.crt'),
    tlsKey: values['tls-key'] ?? env.BERTH_TLS_KEY ?? join(dataDir, 'tls/server.key'),
    socketPath,
    xapiLocalLinks: xapiLocalLinks(values['xapi-local-links'] ?? env.BERTH_XAPI_LOCAL_LINKS, socketPath),
    agentSocket: values['agent-socket'] ?? env.BERTH_AGENT_SOCKET ?? '/run/berth/agent.sock',
    pkiDir: values['pki-dir'] ?? env.BERTH_PKI_DIR ?? join(dataDir, 'pki'),
    agentPort: port(values['agent-port'] ?? env.BERTH_AGENT_PORT, 1811) ?? 1811,
    guestDir: values['guest-dir'] ?? env.BERTH_GUEST_DIR ?? join(dataDir, 'guest'),
    authFailureDelayMs: delay,
    loginPolicy: loginPolicyFrom(values as Record<string, string | undefined>, env),
    maxBodyBytes: 300 * 1024,
    nbdPort: port(values['nbd-port'] ?? env.BERTH_NBD_PORT, 10809),
    metricsTokenFile: optionalFile(values['metrics-token-file'] ?? env.BERTH_METRICS_TOKEN_FILE),
    storagePluginDir: pluginDir(values['storage-plugin-dir'] ?? env.BERTH_STORAGE_PLUGIN_DIR, dataDir),
    storagePluginPackages: (values['storage-plugins'] ?? env.BERTH_STORAGE_PLUGINS ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== ''),
  };
}
