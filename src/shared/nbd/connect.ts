// The thin socket layer: connect to an NBD server over a Unix socket or TCP and run the handshake.
import { connect, type OnReadOpts, type Socket } from 'node:net';
import { type HandshakeOptions, handshake, type NbdClient } from './client.js';

export type NbdAddress = { socket: string } | { host: string; port: number };

/** Bytes one socket read may bring (libuv's default is 64 KiB: a wake-up per 64 KiB). */
const READ_BUFFER = 1024 * 1024;

function open(addr: NbdAddress, tls: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // Plain sockets read into one reused buffer, passed on as views: the client copies what it
    // keeps before the next read. A TLS upgrade needs a socket that emits its own 'data'.
    const onread: OnReadOpts | undefined = tls
      ? undefined
      : {
          buffer: Buffer.allocUnsafe(READ_BUFFER),
          callback: (n: number, buf: Uint8Array) => {
            s.emit('data', Buffer.from(buf.buffer, buf.byteOffset, n));
            return true;
          },
        };
    const s: Socket =
      'socket' in addr
        ? connect({ path: addr.socket, onread })
        : connect({ port: addr.port, host: addr.host, onread });
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
  return handshake(await open(addr, opts.tls !== undefined), opts);
}
