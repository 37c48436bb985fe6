// xapi's local socket paths (/var/lib/xcp/xapi; /var/xapi/xapi, which older bindings such as
// Debian's python3-os-xenapi use in XenAPI.xapi_local()) as symlinks to the manager's own
// socket, so on-host scripts written for xapi find it. A path holding anything but a symlink
// (a real xapi's socket, a file) is left alone.
import { lstatSync, mkdirSync, readlinkSync, symlinkSync, renameSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { logger } from '../../shared/log.js';

const log = logger('xapi-local');

/** What linking did at one path. */
export type LinkOutcome = 'linked' | 'kept' | 'occupied';

function existing(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Points `link` at `socket` (atomically replacing an older symlink); never replaces a non-link. */
export function linkXapiLocal(link: string, socket: string): LinkOutcome {
  const st = existing(link);
  if (st && !st.isSymbolicLink()) {
    log.warn('not linking xapi local socket path: something else is there', { path: link });
    return 'occupied';
  }
  if (st && readlinkSync(link) === socket) return 'kept';
  mkdirSync(dirname(link), { recursive: true, mode: 0o755 });
  const tmp = `${link}.berth-${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {
    /* none */
  }
  symlinkSync(socket, tmp);
  renameSync(tmp, link);
  return 'linked';
}

/** Removes `link` if it is still our symlink to `socket` (another manager may have taken it). */
export function unlinkXapiLocal(link: string, socket: string): void {
  const st = existing(link);
  if (st?.isSymbolicLink() && readlinkSync(link) === socket) unlinkSync(link);
}
