// The pool master's archive of RRDs whose VM is stopped (or SR detached): the agents' internal
// XML dumps, gzipped, one file per owner under `<dataDir>/rrd-archive/{vm,sr}/<uuid>.xml.gz` (xapi
// keeps them as blobs in its database). Not `<dataDir>/rrd`: on a host the manager's data dir is
// also the agent's state root, whose own archive lives there. Writes are atomic (temp file,
// fsync, rename, fsync of the directory; src/shared/atomic-write.ts, off the event loop's thread):
// a crash leaves the old dump or the new one.
import { mkdirSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { writeAtomic } from '../../shared/atomic-write.js';
import { XenApiError } from '../../shared/errors.js';
import type { RrdArchive } from '../api/context.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Owner = 'vm' | 'sr';

/** The file of an owner's dump; refuses anything but a lower-case uuid (paths stay confined). */
export function archivePath(root: string, owner: Owner, uuid: string): string {
  if (owner !== 'vm' && owner !== 'sr') throw new XenApiError('INVALID_VALUE', ['owner', String(owner)]);
  if (typeof uuid !== 'string' || !UUID_RE.test(uuid))
    throw new XenApiError('UUID_INVALID', [owner, String(uuid)]);
  return join(root, owner, `${uuid}.xml.gz`);
}

export class FileRrdArchive implements RrdArchive {
  /** `root`: the archive's directory, `<manager dataDir>/rrd`. */
  constructor(readonly root: string) {
    for (const o of ['vm', 'sr']) mkdirSync(join(root, o), { recursive: true, mode: 0o700 });
  }

  async read(owner: Owner, uuid: string): Promise<string | null> {
    const path = archivePath(this.root, owner, uuid);
    let gz: Buffer;
    try {
      gz = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return (await gunzipAsync(gz)).toString('utf8');
  }

  async write(owner: Owner, uuid: string, dump: string): Promise<void> {
    const path = archivePath(this.root, owner, uuid);
    await writeAtomic(path, await gzipAsync(Buffer.from(dump, 'utf8')));
  }

  async remove(owner: Owner, uuid: string): Promise<void> {
    await rm(archivePath(this.root, owner, uuid), { force: true });
  }
}
