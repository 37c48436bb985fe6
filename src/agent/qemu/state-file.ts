// Receives a QEMU migration stream into a file (suspend). QMP `getfd` would need SCM_RIGHTS,
// which Node's sockets cannot send, and `exec:` needs a shell (also barred by the sandbox), so
// QEMU streams to a Unix socket the agent listens on and the agent writes the file.
import { chownSync, closeSync, createWriteStream, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';

export interface StateReceiver {
  /** Resolves once the whole stream is on disk (fsynced) at `path`. */
  done: Promise<void>;
  /** Stops listening and removes a partial file (on failure). */
  abort(): void;
}

export async function receiveState(
  socketPath: string,
  path: string,
  owner?: { uid: number; gid: number },
): Promise<StateReceiver> {
  const tmp = `${path}.partial`;
  rmSync(socketPath, { force: true });
  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => undefined); // the caller may abort before awaiting
  const server = createServer({ pauseOnConnect: false }, (conn) => {
    server.close(); // exactly one connection
    const out = createWriteStream(tmp, { mode: 0o600 });
    conn.pipe(out);
    conn.on('error', (e) => out.destroy(e));
    out.on('error', (e) => rejectDone(e));
    out.on('finish', () => {
      try {
        const fd = openSync(tmp, 'r');
        fsyncSync(fd);
        closeSync(fd);
        renameSync(tmp, path);
        resolveDone();
      } catch (e) {
        rejectDone(e as Error);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  // QEMU may already run as an unprivileged user: let it connect.
  if (owner) chownSync(socketPath, owner.uid, owner.gid);
  return {
    done,
    abort() {
      server.close();
      rmSync(tmp, { force: true });
      rmSync(socketPath, { force: true });
      rejectDone(new Error('state transfer aborted'));
    },
  };
}
