// get_file_info (ganeti-noded.md §2): stat of a path under the agent's allowed roots (or one of its
// upload targets), symlinks resolved and checked to stay inside.
import { statSync } from 'node:fs';
import type { FileInfo } from '../../shared/host/host-ops.js';
import { invalid } from './failures.js';
import type { HostOpsConfig } from './options.js';
import { normalPath, readable } from './paths.js';

/** The path if get_file_info/node_verify may read it; INVALID_VALUE [arg, path] otherwise. */
export function allowedReadPath(cfg: HostOpsConfig, path: unknown, arg = 'path'): string {
  const p = normalPath(path);
  if (p === null || !readable(p, cfg.fileInfoRoots, cfg.uploadFiles)) throw invalid(arg, path);
  return p;
}

export function getFileInfo(cfg: HostOpsConfig, path: unknown): FileInfo | null {
  const p = allowedReadPath(cfg, path);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  return {
    size: st.size,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.floor(st.mtimeMs / 1000),
    kind: st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other',
  };
}
