// The host's NBD export server, wired to the manager's services.
//
//   const nbd = await startNbdServer(svc, { tls: loadTls(cert, key), openBackend });
//   ...
//   await nbd.server.close();
//
// `openBackend(vdi)` gives an NBD server on a private Unix socket that exports the VDI (wave 2:
// the agent's data-plane procedure, slice `nbd`); the export server authorizes each export by its
// session (exports.ts), relays to that backend (server.ts), and VDI.get_nbd_info (api.ts) reports
// this host's addresses, `port` and certificate.
import type { Services } from '../api/context.js';
import type { Backend } from './backend.js';
import { authorizeExport, nbdMode } from './exports.js';
import { NBD_PORT, NbdServer } from './server.js';

export type { Backend } from './backend.js';
export { nbdApi } from './api.js';
export { NBD_PORT, NbdServer } from './server.js';

export interface NbdServiceOptions {
  /** TCP port (default 10809; 0: any free port). */
  port?: number;
  /** Listen address (default: all). */
  host?: string;
  /** PEM certificate and key served after STARTTLS, and reported by VDI.get_nbd_info. */
  tls: { cert: string; key: string };
  openBackend(vdi: string): Promise<Backend>;
  handshakeTimeoutMs?: number;
}

export async function startNbdServer(
  svc: Services,
  opts: NbdServiceOptions,
): Promise<{ server: NbdServer; port: number }> {
  const server = new NbdServer({
    mode: () => nbdMode(svc.db),
    tls: opts.tls,
    authorize: (name) => authorizeExport(svc, name),
    openBackend: opts.openBackend,
    handshakeTimeoutMs: opts.handshakeTimeoutMs,
  });
  const port = await server.listen(opts.port ?? NBD_PORT, opts.host);
  const local = svc.hostRef();
  // Other members' certificates: each member's own server reports its own (wave 2 for pools).
  svc.nbd = { port, certificateOf: (host) => (host === local ? opts.tls.cert : undefined) };
  return { server, port };
}
