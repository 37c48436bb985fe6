// A listening Unix socket the agent makes for QEMU (which cannot create one in its run
// directory): Node listens on a private temporary name, `handOver` passes the descriptor to
// QEMU (fdpass), then the socket gets its real name and Node's own handle is closed.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';

export async function handOverListeningSocket(
  socket: string,
  handOver: (fd: number) => Promise<void>,
): Promise<void> {
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
  // `<name>.<8 hex>.tmp` next to `<name>.sock` (instance-exports.ts sweeps leftovers by it).
  const tmp = join(dirname(socket), `${basename(socket, '.sock')}.${randomBytes(4).toString('hex')}.tmp`);
  rmSync(socket, { force: true });
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(tmp, resolve);
  });
  try {
    // Node's handle is closed below, before anything can connect (the temporary name is private).
    await handOver((srv as unknown as { _handle: { fd: number } })._handle.fd);
    linkSync(tmp, socket); // closing Node's handle unlinks `tmp`; the socket stays reachable
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
    rmSync(tmp, { force: true });
  }
}
