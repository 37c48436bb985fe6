// The agent's RRDs on disk: `<first state root>/rrd/{host,vm/<uuid>,sr/<uuid>}.xml.gz`, the
// internal XML dump gzipped, written every interval and at close, reloaded at start. Each write
// is atomic (temp file, fsync, rename): a SIGKILL loses at most one interval and never leaves a
// half-written archive. An archive that cannot be read is renamed aside (`.corrupt-<time>`) with
// a log line and the RRD starts afresh: statistics never stop an agent from starting.
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { ATOMIC_TMP_MARK, writeAtomic } from '../../shared/atomic-write.js';
import { logger } from '../../shared/log.js';
import { dumpXml, parseDumpXml } from '../../shared/rrd/dump.js';
import type { Rrd } from '../../shared/rrd/rrd.js';
import { UUID_RE } from '../qemu/spec-check.js';
import type { RrdOwner } from '../../shared/host/stats.js';
import type { StatsStore } from './store.js';

const log = logger('stats-archive');
const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Default archive interval: see docs/decisions.md (agent-store) for the cost behind it. */
export const DEFAULT_ARCHIVE_INTERVAL_MS = 60_000;

const SUFFIX = '.xml.gz';

/** The archive file of one RRD under `dir` (`<state root>/rrd`); uuids are checked, paths stay inside. */
export function archivePath(dir: string, owner: 'host' | 'vm' | 'sr', uuid = ''): string {
  if (owner === 'host') return join(dir, `host${SUFFIX}`);
  if (!UUID_RE.test(uuid)) throw new Error(`not a uuid: ${JSON.stringify(uuid)}`);
  return join(dir, owner, `${uuid}${SUFFIX}`);
}

export async function writeRrdFile(path: string, rrd: Rrd): Promise<void> {
  await writeAtomic(path, await gzipAsync(dumpXml(rrd, { internal: true })));
}

export async function readRrdFile(path: string): Promise<Rrd> {
  return parseDumpXml((await gunzipAsync(await readFile(path))).toString('utf8'));
}

export class RrdArchive {
  constructor(
    /** `<first state root>/rrd`. */
    readonly dir: string,
    private readonly store: StatsStore,
  ) {}

  /** Saves and removals run one after the other: a removal never races a write of the same file. */
  private queue: Promise<unknown> = Promise.resolve();
  private serial<T>(job: () => Promise<T>): Promise<T> {
    const p = this.queue.then(job, job);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Reloads every archive into the store; unreadable ones are set aside. Never throws. */
  async load(): Promise<{ loaded: number; setAside: number }> {
    let loaded = 0;
    let setAside = 0;
    const one = async (owner: 'host' | 'vm' | 'sr', uuid: string, path: string) => {
      try {
        this.store.put(owner, uuid, await readRrdFile(path));
        loaded++;
      } catch (e) {
        setAside++;
        const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        log.warn('unreadable RRD archive set aside; a fresh RRD starts', {
          path,
          aside,
          error: e instanceof Error ? e.message : String(e),
        });
        await rename(path, aside).catch((err) =>
          log.error('cannot set archive aside', { path, error: String(err) }),
        );
      }
    };
    try {
      await mkdir(join(this.dir, 'vm'), { recursive: true, mode: 0o700 });
      await mkdir(join(this.dir, 'sr'), { recursive: true, mode: 0o700 });
      const hostFile = archivePath(this.dir, 'host');
      if (await exists(hostFile)) await one('host', '', hostFile);
      for (const owner of ['vm', 'sr'] as const) {
        for (const name of await readdir(join(this.dir, owner))) {
          const p = join(this.dir, owner, name);
          if (name.includes(ATOMIC_TMP_MARK)) {
            await rm(p, { force: true }); // a write a crash interrupted: the archive before it stands
            continue;
          }
          if (!name.endsWith(SUFFIX)) continue; // set-aside archives and strangers stay untouched
          const uuid = name.slice(0, -SUFFIX.length);
          if (UUID_RE.test(uuid)) await one(owner, uuid, p);
        }
      }
    } catch (e) {
      log.error('cannot read the RRD archives', { dir: this.dir, error: String(e) });
    }
    if (loaded || setAside) log.info('RRD archives reloaded', { loaded, setAside });
    return { loaded, setAside };
  }

  /** Writes every RRD held; one failing file is logged and the others still written. */
  save(): Promise<{ written: number; failed: number }> {
    return this.serial(() => this.saveNow());
  }

  private async saveNow(): Promise<{ written: number; failed: number }> {
    const jobs: [RrdOwner, string][] = [];
    if (this.store.host) jobs.push(['host', '']);
    for (const uuid of this.store.vms.keys()) jobs.push(['vm', uuid]);
    for (const uuid of this.store.srs.keys()) jobs.push(['sr', uuid]);
    let written = 0;
    let failed = 0;
    await mkdir(join(this.dir, 'vm'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.dir, 'sr'), { recursive: true, mode: 0o700 });
    for (const [owner, uuid] of jobs) {
      // Asked again at each file: one taken meanwhile (its archive removed) is not written back.
      const held = this.store.get(owner, uuid);
      if (!held) continue;
      const path = archivePath(this.dir, owner, uuid);
      try {
        await writeRrdFile(path, held.rrd);
        written++;
      } catch (e) {
        failed++;
        log.error('cannot archive RRD', { path, error: String(e) });
      }
    }
    return { written, failed };
  }

  /** Removes the archive of an RRD no longer held here (taken by the manager). */
  remove(owner: 'vm' | 'sr', uuid: string): Promise<void> {
    return this.serial(() => rm(archivePath(this.dir, owner, uuid), { force: true }));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await (await open(path, 'r')).close();
    return true;
  } catch {
    return false;
  }
}

/** Runs `save` every interval, one at a time; `stop` waits for one under way and writes once more. */
export function startArchiving(archive: RrdArchive, intervalMs: number): { stop(): Promise<void> } {
  let current: Promise<unknown> = Promise.resolve();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return; // a slow disk: the next tick writes
    busy = true;
    current = archive.save().finally(() => {
      busy = false;
    });
  }, intervalMs);
  timer.unref?.();
  return {
    async stop() {
      clearInterval(timer);
      await current.catch(() => {});
      await archive.save();
    },
  };
}
