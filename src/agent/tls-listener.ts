// The agent's TCP listener: HTTPS with mutual TLS, the pool CA as the only trust anchor. A peer
// must present a certificate the pool CA issued (any member's: any member may be master), or the
// handshake fails before a byte of RPC is read. Plain HTTP is never offered.
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { logger } from '../shared/log.js';
import type { TlsMaterial } from '../shared/pki/pool-pki.js';

const log = logger('agent-tls');

/** Server TLS options: our pool certificate, client certificates required and checked. */
export function tlsServerOptions(m: TlsMaterial): https.ServerOptions {
  return {
    ca: m.ca,
    cert: m.cert,
    key: m.key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  };
}

export class TlsListener {
  readonly server: https.Server;
  private readonly sockets = new Set<Duplex>();

  constructor(m: TlsMaterial, listener: http.RequestListener) {
    this.server = https.createServer(tlsServerOptions(m), listener);
    this.server.on('tlsClientError', (e, s) => {
      const peer = s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'disconnected';
      log.warn('peer refused', { peer, error: e.message.split('\n')[0] });
    });
    // Track raw sockets too, so close() also drops connections still in their handshake.
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        log.info('listening (mutual TLS)', { address: a.address, port: a.port });
        resolve(a);
      });
    });
  }

  get address(): AddressInfo | undefined {
    const a = this.server.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      for (const s of this.sockets) s.destroy();
    });
  }
}
