// The NBD exports this agent serves: one qemu-storage-daemon per export, on a private Unix socket
// under <runRoot>/nbd, recorded in <id>.json beside it so that a later agent can end what an
// earlier one left (agent crash). Exports end on close, on agent stop, and at agent start.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { run } from '../../shared/exec.js';
import { BITMAP_NAME, type NbdExport, type NbdOpenOptions } from '../../shared/host/data-plane.js';
import type { SrConfig } from '../../shared/host/storage.js';
import { logger } from '../../shared/log.js';
import { alive, readPid, waitGone } from '../qemu/proc.js';
import { backendFailure } from '../storage/failure.js';
import { driverFor } from '../storage/procedures.js';
import type { DriverContext } from '../storage/types.js';
import { isQsdFor, QSD_BINARY, qsdArgs, qsdContexts, qsdEnv } from './qsd-args.js';

const log = logger('data-plane');

interface Served extends NbdExport {
  pid: number;
  pidFile: string;
}

const ID = /^[0-9a-f]{16}$/;

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** SIGTERM, then SIGKILL if it lingers; only if `pid` still is the daemon of `socket`. */
async function stopDaemon(pid: number, socket: string): Promise<void> {
  if (!alive(pid) || !isQsdFor(cmdline(pid), socket)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitGone(pid, 5000)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await waitGone(pid, 2000);
}

export class NbdExports {
  private readonly served = new Map<string, Served>();
  readonly dir: string;

  constructor(
    runRoot: string,
    private readonly storage: DriverContext,
  ) {
    this.dir = join(runRoot, 'nbd');
  }

  private files(id: string) {
    return {
      socket: join(this.dir, `${id}.sock`),
      pidFile: join(this.dir, `${id}.pid`),
      record: join(this.dir, `${id}.json`),
    };
  }

  private removeFiles(id: string) {
    for (const f of Object.values(this.files(id))) rmSync(f, { force: true });
  }

  async open(sr: SrConfig, location: string, opts: NbdOpenOptions): Promise<NbdExport> {
    if (opts.bitmap !== undefined && !BITMAP_NAME.test(opts.bitmap))
      throw new XenApiError('INVALID_VALUE', ['bitmap', opts.bitmap]);
    // The driver confines the SR's paths to this host's roots and checks the location's form.
    const v = await driverFor(sr.type).volume(sr, location, this.storage);
    if (!v) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
    const readOnly = opts.readOnly || v.readOnly;
    if (!opts.readOnly && v.readOnly) throw new XenApiError('VDI_READ_ONLY', [location]);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const id = randomBytes(8).toString('hex');
    const f = this.files(id);
    const args = qsdArgs({
      path: v.path,
      format: v.format,
      readOnly,
      socket: f.socket,
      pidFile: f.pidFile,
      exportName: location,
      bitmap: opts.bitmap,
    });
    // Recorded first: a crash between the start and the record would leave an unknown daemon.
    writeFileSync(f.record, JSON.stringify({ socket: f.socket, location, srUuid: sr.uuid }));
    const r = await run(QSD_BINARY, args, { timeoutMs: 30_000, env: qsdEnv(process.env) }).catch(
      (e: Error) => ({
        code: -1,
        stderr: e.message,
        timedOut: false,
      }),
    );
    const pid = readPid(f.pidFile);
    if (r.code !== 0 || !pid) {
      if (pid) await stopDaemon(pid, f.socket);
      this.removeFiles(id);
      throw this.openFailure(location, opts, r.stderr);
    }
    const x: Served = {
      id,
      socket: f.socket,
      exportName: location,
      size: v.virtualSize,
      readOnly,
      metaContexts: qsdContexts(opts.bitmap),
      pid,
      pidFile: f.pidFile,
    };
    this.served.set(id, x);
    log.info('nbd export open', { id, location, sr: sr.uuid, readOnly, bitmap: opts.bitmap ?? null });
    return this.toWire(x);
  }

  private openFailure(location: string, opts: NbdOpenOptions, stderr: string): XenApiError {
    if (/Failed to get ".*" lock|Is another process using the image/.test(stderr))
      return new XenApiError('VDI_IN_USE', [location, 'nbd_open']);
    if (opts.bitmap && /[Bb]itmap/.test(stderr) && /not found|[Cc]annot find|[Nn]o bitmap/.test(stderr))
      return new XenApiError('INVALID_VALUE', ['bitmap', opts.bitmap, stderr.trim()]);
    return backendFailure('qemu-storage-daemon', stderr.trim());
  }

  private toWire(x: Served): NbdExport {
    const { pid: _pid, pidFile: _pidFile, ...rest } = x;
    return rest;
  }

  async close(id: string): Promise<void> {
    const x = this.served.get(id);
    if (!x) return;
    this.served.delete(id);
    await stopDaemon(x.pid, x.socket);
    this.removeFiles(id);
    log.info('nbd export closed', { id, location: x.exportName });
  }

  list(): NbdExport[] {
    return [...this.served.values()].map((x) => this.toWire(x));
  }

  /** Ends every export (agent stop). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.served.keys()].map((id) => this.close(id)));
  }

  /** Ends the daemons and removes the files an earlier agent left (agent start). */
  async cleanLeftovers(): Promise<string[]> {
    if (!existsSync(this.dir)) return [];
    const ids = new Set<string>();
    for (const name of readdirSync(this.dir)) {
      const id = name.replace(/\.(sock|pid|json)$/, '');
      if (ID.test(id) && !this.served.has(id)) ids.add(id);
    }
    for (const id of ids) {
      const f = this.files(id);
      const pid = readPid(f.pidFile);
      if (pid) await stopDaemon(pid, f.socket);
      this.removeFiles(id);
    }
    if (ids.size) log.info('removed leftover nbd exports', { ids: [...ids] });
    return [...ids];
  }
}
