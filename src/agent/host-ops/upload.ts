// upload_file: Ganeti's UploadFile (ganeti-noded.md §6). The path must be absolute and one of the
// agent's upload targets exactly; the content is written atomically with the given mode, owner
// and times. Owners are uid/gid numbers or user/group names resolved here (getent).
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { run } from '../../shared/exec.js';
import { writeAtomic } from './atomic-write.js';
import { failed, invalid } from './failures.js';
import type { HostOpsConfig } from './options.js';
import { normalPath } from './paths.js';

const NAME = /^[a-z_][a-z0-9_-]{0,31}\$?$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A uid/gid number, or a user/group name looked up in passwd/group. */
async function resolveId(db: 'passwd' | 'group', v: unknown, arg: string): Promise<number> {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 31) return v;
  if (typeof v !== 'string' || !NAME.test(v)) throw failed('upload_file', 'Invalid username/groupname type');
  const r = await run('getent', [db, v], { timeoutMs: 5_000 });
  const id = Number(r.stdout.split(':')[2]);
  if (r.code !== 0 || !Number.isInteger(id)) throw invalid(arg, v);
  return id;
}

const seconds = (v: unknown, arg: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 2 ** 40) throw invalid(arg, v);
  return v;
};

export async function uploadFile(
  cfg: HostOpsConfig,
  path: unknown,
  data: unknown,
  mode: unknown,
  uid: unknown,
  gid: unknown,
  atime: unknown,
  mtime: unknown,
): Promise<void> {
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw failed(
      'upload_file',
      `Filename passed to UploadFile is not absolute: '${String(path).slice(0, 200)}'`,
    );
  const p = normalPath(path);
  if (p === null || !cfg.uploadFiles.includes(p))
    throw failed(
      'upload_file',
      `Filename passed to UploadFile not in allowed upload targets: '${path.slice(0, 200)}'`,
    );
  if (typeof data !== 'string' || !BASE64.test(data) || data.length % 4 !== 0)
    throw invalid('data', '<not base64>');
  // base64 is 4/3 of the bytes: refuse before decoding anything oversized.
  if ((data.length / 4) * 3 > cfg.uploadMaxBytes + 2)
    throw failed('upload_file', `File too large for UploadFile: more than ${cfg.uploadMaxBytes} bytes`);
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > cfg.uploadMaxBytes)
    throw failed('upload_file', `File too large for UploadFile: more than ${cfg.uploadMaxBytes} bytes`);
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777)
    throw invalid('mode', mode);
  const owner = await resolveId('passwd', uid, 'uid');
  const group = await resolveId('group', gid, 'gid');
  const at = seconds(atime, 'atime');
  const mt = seconds(mtime, 'mtime');
  // The directory must be what it says: a symlinked parent would carry the write elsewhere.
  let parent: string;
  try {
    parent = realpathSync(dirname(p));
  } catch {
    throw failed('upload_file', `Directory of '${p}' does not exist`);
  }
  if (parent !== dirname(p))
    throw failed('upload_file', `Directory of '${p}' is a symbolic link to '${parent}'`);
  writeAtomic(p, bytes, { mode, uid: owner, gid: group, atime: at, mtime: mt });
}
