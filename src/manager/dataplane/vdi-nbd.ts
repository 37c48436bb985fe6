// A VDI's bytes as an NBD client on this host: the agent of the host that serves it exports the
// volume on a private Unix socket (blockdev_nbd_open), or, for a disk a running VM holds, its
// QEMU exports the live disk read-only (instance_nbd_open). The manager connects locally, so the
// request must be served on that host: `vdiDataHost` says which (the caller redirects if not here).
//
//   const h = vdiDataHost(svc, vdi);            // redirect when h !== svc.hostRef()
//   const d = await openVdiNbd(svc, vdi, { write: false });
//   … d.client.read / extents(d.client, …) …
//   await d.close();
import { XenApiError } from '../../shared/errors.js';
import type { NbdExport } from '../../shared/host/data-plane.js';
import { BASE_ALLOCATION, connectNbd, type NbdClient } from '../../shared/nbd/index.js';
import type { Services } from '../api/context.js';
import { vmHost } from '../api/vbd.js';
import type { Row } from '../db/database.js';
import { attachedSr, attachedVbds } from '../storage/records.js';
import { hostForSr } from '../storage/sr-host.js';
import { vbdDevice } from '../storage/vm-disks.js';

export const ALLOCATION_DEPTH = 'qemu:allocation-depth';

export interface OpenVdi {
  /** The first connection (block status, writes). */
  client: NbdClient;
  /**
   * Reads spread round-robin over every connection: each has its own socket buffer, so reads in
   * flight on several connections move more bytes per wake-up of the two processes (what
   * nbdcopy's 4 connections do).
   */
  read(offset: number, length: number): Promise<Buffer>;
  /** The same into `target` (its whole length). */
  readInto(offset: number, target: Buffer): Promise<Buffer>;
  /** The export serves the live disk of a running VM (bytes may change while read). */
  live: boolean;
  close(): Promise<void>;
}

/** The running VM (and its disk's device) holding `vdi`, if one does. */
function liveHolder(svc: Services, vdi: string): { vm: Row; device: string } | undefined {
  const vbds = attachedVbds(svc.db, vdi);
  if (!vbds.length) return undefined;
  const vbd = svc.db.mustGet('VBD', vbds[0]);
  const vm = svc.db.mustGet('VM', String(vbd.VM));
  if (vm.power_state !== 'Running' && vm.power_state !== 'Paused') return undefined;
  return { vm, device: vbdDevice(vbd) };
}

/** The host whose agent serves `vdi`'s bytes: the running VM's host, else the SR's. */
export function vdiDataHost(svc: Services, vdi: string): string {
  const live = liveHolder(svc, vdi);
  if (live) return vmHost(svc, live.vm);
  return hostForSr(svc, String(svc.db.mustGet('VDI', vdi).SR));
}

/** Opens an NBD connection to `vdi` (read-only unless `write`); VDI_IN_USE to write a disk a VM holds. */
export async function openVdiNbd(
  svc: Services,
  vdi: string,
  opts: { write: boolean; connections?: number },
): Promise<OpenVdi> {
  const row = svc.db.mustGet('VDI', vdi);
  const sr = String(row.SR);
  const live = liveHolder(svc, vdi);
  if (opts.write && attachedVbds(svc.db, vdi).length) throw new XenApiError('VDI_IN_USE', [vdi, 'import']);
  let x: NbdExport;
  let agent: ReturnType<Services['hosts']['get']>;
  if (live) {
    agent = svc.hosts.get(vmHost(svc, live.vm));
    x = await agent.instance_nbd_open(String(live.vm.uuid), live.device, {});
  } else {
    const cfg = attachedSr(svc, sr);
    agent = svc.hosts.get(hostForSr(svc, sr));
    x = await agent.blockdev_nbd_open(cfg, String(row.location), { readOnly: !opts.write });
  }
  const closeExport = () => agent.blockdev_nbd_close(x.id).catch(() => undefined);
  const clients: NbdClient[] = [];
  try {
    const n = Math.max(1, opts.connections ?? 1);
    for (let i = 0; i < n; i++)
      clients.push(
        await connectNbd(
          { socket: x.socket },
          {
            exportName: x.exportName,
            metaContexts: [BASE_ALLOCATION, ALLOCATION_DEPTH].filter((c) => x.metaContexts.includes(c)),
          },
        ),
      );
  } catch (e) {
    for (const c of clients) c.destroy();
    await closeExport();
    throw e;
  }
  let next = 0;
  return {
    client: clients[0],
    live: live !== undefined,
    read(offset, length) {
      const c = clients[next];
      next = (next + 1) % clients.length;
      return c.read(offset, length);
    },
    readInto(offset, target) {
      const c = clients[next];
      next = (next + 1) % clients.length;
      return c.readInto(offset, target);
    },
    async close() {
      await Promise.all(clients.map((c) => c.disconnect().catch(() => c.destroy())));
      await closeExport();
    },
  };
}
