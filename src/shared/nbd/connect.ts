// The thin socket layer: connect to an NBD server over a Unix socket or TCP and run the handshake.
import { connect, type Socket } from 'node:net';
import { type HandshakeOptions, handshake, type NbdClient } from './client.js';

export type NbdAddress = { socket: string } | { host: string; port: number };

function open(addr: NbdAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = 'socket' in addr ? connect(addr.socket) : connect(addr.port, addr.host);
    s.once('connect', () => {
      s.off('error', reject);
      s.setNoDelay?.(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Connects and negotiates (export name, structured replies, meta contexts, optional STARTTLS). */
export async function connectNbd(addr: NbdAddress, opts: HandshakeOptions = {}): Promise<NbdClient> {
  return handshake(await open(addr), opts);
}
