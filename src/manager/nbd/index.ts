// The host's NBD export server, wired to the manager's services. Manager.listen() starts it
// (config `--nbd-port`, default 10809) once the HTTPS certificate exists; Manager.close() stops it.
//
//   const nbd = await startNbdServer(svc, { tls: loadTls(cert, key), port, host });
//   ...
//   await nbd.server.close();
//
// `openBackend(vdi)` (default: vdi-backend.ts, the agent's blockdev_nbd_open / instance_nbd_open
// on this host) gives an NBD server on a private Unix socket that exports the VDI; the export
// server authorizes each export by its session (exports.ts), relays to that backend (server.ts),
// and VDI.get_nbd_info (api.ts) reports the serving hosts' addresses, `port` and certificate.
import type { Services } from '../api/context.js';
import type { Backend } from './backend.js';
import { authorizeExport, nbdMode } from './exports.js';
import { NBD_PORT, NbdServer } from './server.js';
import { authorizeOnMaster, isSlave, knownMemberCertificate, openBackendThroughMaster } from './pool.js';
import { openVdiBackend } from './vdi-backend.js';

export type { Backend } from './backend.js';
export { nbdApi } from './api.js';
export { nbdPoolRoutes } from './pool.js';
export { NBD_PORT, NbdServer } from './server.js';

export interface NbdServiceOptions {
  /** TCP port (default 10809; 0: any free port). */
  port?: number;
  /** Listen address (default: all). */
  host?: string;
  /** PEM certificate and key served after STARTTLS, and reported by VDI.get_nbd_info. */
  tls: { cert: string; key: string };
  /** Default: the agent of this host (vdi-backend.ts). */
  openBackend?(vdi: string): Promise<Backend>;
  handshakeTimeoutMs?: number;
}

export async function startNbdServer(
  svc: Services,
  opts: NbdServiceOptions,
): Promise<{ server: NbdServer; port: number }> {
  const server = new NbdServer({
    mode: () => nbdMode(svc.db),
    tls: opts.tls,
    // A slave's sessions and agent access are the master's (pool.ts).
    authorize: (name) => (isSlave(svc) ? authorizeOnMaster(svc, name) : authorizeExport(svc, name)),
    openBackend:
      opts.openBackend ??
      ((vdi) => (isSlave(svc) ? openBackendThroughMaster(svc, vdi) : openVdiBackend(svc, vdi))),
    handshakeTimeoutMs: opts.handshakeTimeoutMs,
  });
  const port = await server.listen(opts.port ?? NBD_PORT, opts.host);
  const local = svc.hostRef();
  // Other members' certificates: fetched from them by the master (pool.ts).
  svc.nbd = {
    port,
    certificateOf: (host) => (host === local ? opts.tls.cert : knownMemberCertificate(svc, host)),
  };
  return { server, port };
}
