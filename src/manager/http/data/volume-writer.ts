// Writing an import's disk data into new volumes: each VDI's volume is served writable by the
// agent of the SR's host over NBD on a private Unix socket (blockdev_nbd_open), and the manager
// writes the chunks at their offsets with a bounded window of requests in flight (backpressure:
// write() resolves once the window has room). New volumes read as zeros, so all-zero chunks are
// not written. close() flushes, disconnects and ends every export; abort() ends them without
// flushing (the volumes are about to be removed).
import { XenApiError } from '../../../shared/errors.js';
import type { NbdExport } from '../../../shared/host/data-plane.js';
import { logger } from '../../../shared/log.js';
import { connectNbd, type NbdClient } from '../../../shared/nbd/index.js';
import { isAllZero } from '../../../shared/xva/index.js';
import type { Services } from '../../api/context.js';
import { attachedSr } from '../../storage/records.js';
import { hostForSr } from '../../storage/sr-host.js';

const log = logger('import');

/** WRITE requests in flight per volume: enough to keep qemu-storage-daemon busy. */
const WINDOW = 8;

interface OpenVolume {
  host: string;
  x: NbdExport;
  client: NbdClient;
  inFlight: Set<Promise<void>>;
  failure?: unknown;
}

export class VolumeWriters {
  private readonly open = new Map<string, OpenVolume>();
  /** Data bytes written (zero chunks excluded). */
  written = 0;

  constructor(private readonly svc: Services) {}

  /** Opens VDI `vdi`'s volume for writing under `key` (the XVA's disk id). */
  async add(key: string, vdi: string): Promise<void> {
    const { svc } = this;
    const row = svc.db.mustGet('VDI', vdi);
    const sr = String(row.SR);
    const host = hostForSr(svc, sr);
    const agent = svc.hosts.get(host);
    const x = await agent.blockdev_nbd_open(attachedSr(svc, sr), String(row.location), { readOnly: false });
    try {
      const client = await connectNbd({ socket: x.socket }, { exportName: x.exportName });
      this.open.set(key, { host, x, client, inFlight: new Set() });
    } catch (e) {
      await agent.blockdev_nbd_close(x.id).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Writes `data` at `offset` of disk `key`; resolves when the window has room for more. `done`
   * (if given) is called once `data` is no longer needed: its writes have completed or failed.
   */
  async write(key: string, offset: number, data: Buffer, done?: () => void): Promise<void> {
    const v = this.open.get(key);
    if (!v) {
      done?.();
      throw new XenApiError('IMPORT_ERROR', [`no volume for disk ${key}`]);
    }
    if (isAllZero(data)) return done?.();
    const max = v.client.maxBlock;
    const pieces: Promise<void>[] = [];
    try {
      for (let o = 0; o < data.length; o += max) {
        while (v.inFlight.size >= WINDOW) await Promise.race(v.inFlight);
        if (v.failure) throw v.failure;
        const piece = data.subarray(o, Math.min(data.length, o + max));
        const p = v.client.write(offset + o, piece).catch((e) => {
          v.failure ??= e;
        });
        const tracked = p.finally(() => v.inFlight.delete(tracked));
        v.inFlight.add(tracked);
        pieces.push(tracked);
      }
    } finally {
      if (done) void Promise.allSettled(pieces).then(done);
    }
    this.written += data.length;
    if (v.failure) throw v.failure;
  }

  /** Waits for disk `key`'s writes and flushes them. */
  async finish(key: string): Promise<void> {
    const v = this.open.get(key);
    if (!v) return;
    await Promise.all(v.inFlight);
    if (v.failure) throw v.failure;
    await v.client.flush();
  }

  /** Flushes every volume (when `flush`) and ends every export; safe to call more than once. */
  async close(flush: boolean): Promise<void> {
    let failure: unknown;
    for (const [key, v] of this.open) {
      this.open.delete(key);
      try {
        await Promise.allSettled(v.inFlight);
        if (flush && !v.failure) await v.client.flush();
        else if (flush) failure ??= v.failure;
      } catch (e) {
        failure ??= e;
      }
      await v.client.disconnect().catch(() => undefined);
      await this.svc.hosts
        .get(v.host)
        .blockdev_nbd_close(v.x.id)
        .catch((e) => log.warn('NBD export not closed', { id: v.x.id, error: String(e) }));
    }
    if (failure) throw failure;
  }
}
