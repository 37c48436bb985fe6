// The file a suspended VM's state goes to. The agent (root) opens `<path>.partial` (0600) and QEMU
// writes the migration stream into that descriptor (passed with getfd, `migrate fd:…`): QEMU,
// unprivileged by then, needs no path and no socket. Complete: fsynced and renamed to `path`.
import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';

export interface StateFile {
  /** The open descriptor QEMU is given. */
  fd: number;
  /** The stream is complete: fsync, close, rename into place. */
  commit(): void;
  /** Failure: close and remove the partial file. */
  abort(): void;
}

export function openStateFile(path: string): StateFile {
  const tmp = `${path}.partial`;
  const fd = openSync(tmp, 'w', 0o600);
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    fd,
    commit() {
      fsyncSync(fd);
      close();
      renameSync(tmp, path);
    },
    abort() {
      close();
      rmSync(tmp, { force: true });
    },
  };
}
