// A VDI's bytes read by this manager: the agent of the host serving its SR exports the volume
// read-only over NBD on a private Unix socket (blockdev_nbd_open), this process connects with the
// NBD client, and close() ends both (the agent stops its qemu-storage-daemon). Only valid on the
// host serving the SR (the socket is local): handlers redirect elsewhere first.
import { BASE_ALLOCATION, connectNbd, extents, type NbdClient } from '../../../shared/nbd/index.js';
import type { XvaChunk } from '../../../shared/xva/index.js';
import { chunksFromReader, type Extent } from '../../../shared/xva/index.js';
import type { Services } from '../../api/context.js';
import { attachedSr } from '../../storage/records.js';
import { hostForSr } from '../../storage/sr-host.js';

export interface VdiReader {
  client: NbdClient;
  /** Ends the NBD connection and the agent's export; safe to call twice. */
  close(): Promise<void>;
}

/** 1 MiB reads in flight per disk (measured: 8 keeps qemu-storage-daemon busy on 2 cores). */
const READS_IN_FLIGHT = 8;

/** Opens `vdi` read-only over NBD through its SR's agent. */
export async function openVdiReader(svc: Services, vdi: string): Promise<VdiReader> {
  const row = svc.db.mustGet('VDI', vdi);
  const sr = String(row.SR);
  const cfg = attachedSr(svc, sr);
  const agent = svc.hosts.get(hostForSr(svc, sr));
  const x = await agent.blockdev_nbd_open(cfg, String(row.location), { readOnly: true });
  let client: NbdClient;
  try {
    const metaContexts = x.metaContexts.includes(BASE_ALLOCATION) ? [BASE_ALLOCATION] : [];
    client = await connectNbd({ socket: x.socket }, { exportName: x.exportName, metaContexts });
  } catch (e) {
    await agent.blockdev_nbd_close(x.id).catch(() => undefined);
    throw e;
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      client.destroy();
      await agent.blockdev_nbd_close(x.id);
    })();
    return closing;
  };
  return { client, close };
}

/** The extents holding data (not reading as zeros); undefined when the server cannot tell. */
export async function dataExtents(c: NbdClient): Promise<Extent[] | undefined> {
  if (!c.contexts.has(BASE_ALLOCATION)) return undefined;
  const out: Extent[] = [];
  for await (const e of extents(c, BASE_ALLOCATION))
    if (!e.zero) out.push({ offset: e.offset, length: e.length });
  return out;
}

/**
 * The XVA chunks of a disk of `virtualSize` bytes: only the 1 MiB chunks touching data extents
 * are read (the writer fills the rest with zeros); bytes past the export's end read as zeros.
 */
export async function* vdiChunks(c: NbdClient, virtualSize: number): AsyncGenerator<XvaChunk> {
  const found = await dataExtents(c);
  const within = found?.filter((e) => e.offset < virtualSize);
  const read = async (offset: number, length: number) => {
    if (offset + length <= c.size) return c.read(offset, length);
    const buf = Buffer.alloc(length);
    if (offset < c.size) (await c.read(offset, c.size - offset)).copy(buf);
    return buf;
  };
  yield* chunksFromReader(read, virtualSize, { extents: within, concurrency: READS_IN_FLIGHT });
}
