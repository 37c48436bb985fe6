// Where the export server's bytes come from: an NBD export of the VDI made by this host's agent on
// a private Unix socket (src/shared/host/data-plane.ts), closed when the client disconnects.
//
// - A VDI a running (or paused) VM on this host has attached: the VM's own QEMU serves it
//   (`instance_nbd_open`), reads going through the block layer that the guest writes through.
//   xapi-nbd plugs a read-only VBD into dom0 (its sharing check exempts the control domain), so it
//   serves such a VDI too; reading the image file beside a writing QEMU would not be consistent.
// - Any other VDI: `blockdev_nbd_open(sr, location, {readOnly: true})` (qemu-storage-daemon,
//   force-share), through a PBD of the VDI's SR plugged on this host.
// The socket is local to the agent's host: a VDI this host cannot reach is refused with a reason
// (VDI.get_nbd_info lists only hosts that can serve it, nbd-info.ts `servingHosts`).
import type { NbdExport } from '../../shared/host/data-plane.js';
import type { Services } from '../api/context.js';
import type { Row } from '../db/database.js';
import { srConfig } from '../storage/records.js';
import { vbdDevice } from '../storage/vm-disks.js';
import type { Backend } from './backend.js';
import { Rep } from './protocol.js';
import { ExportRefused } from './server.js';

const LIVE_STATES = new Set(['Running', 'Paused']);

/** The attached VBD of a running or paused VM holding `vdi`, with that VM (pure over the db rows). */
export function liveHolder(svc: Pick<Services, 'db'>, vdi: string): { vbd: Row; vm: Row } | undefined {
  const row = svc.db.get('VDI', vdi);
  for (const ref of (row?.VBDs as string[] | undefined) ?? []) {
    const vbd = svc.db.get('VBD', ref);
    if (vbd?.currently_attached !== true) continue;
    const vm = svc.db.get('VM', String(vbd.VM));
    if (vm && LIVE_STATES.has(String(vm.power_state))) return { vbd, vm };
  }
  return undefined;
}

/**
 * Opens an NBD export of `vdi` on `host`'s agent (see the file comment): the export and the host
 * whose agent closes it. On a pool master, `host` may be a member whose NBD server asked (pool.ts).
 */
export async function openVdiExport(svc: Services, vdi: string, host = svc.hostRef()): Promise<NbdExport> {
  const row = svc.db.mustGet('VDI', vdi);
  const refuse = (why: string) => new ExportRefused(Rep.ERR_UNKNOWN, `VDI ${row.uuid}: ${why}`);
  const holder = liveHolder(svc, vdi);
  if (holder) {
    if (holder.vm.resident_on !== host)
      throw refuse('in use by a VM running on another host: read it from that host');
    return svc.hosts.get(host).instance_nbd_open(String(holder.vm.uuid), vbdDevice(holder.vbd), {});
  }
  const sr = svc.db.mustGet('SR', String(row.SR));
  const pbd = ((sr.PBDs as string[] | undefined) ?? [])
    .map((p) => svc.db.get('PBD', p))
    .find((p) => p?.host === host && p.currently_attached === true);
  if (!pbd) throw refuse('its SR is not attached on this host');
  return svc.hosts.get(host).blockdev_nbd_open(srConfig(sr, pbd), String(row.location), { readOnly: true });
}

/** openVdiExport on this host, as the export server's backend (closed when the client goes). */
export async function openVdiBackend(svc: Services, vdi: string): Promise<Backend> {
  const host = svc.hostRef();
  const x = await openVdiExport(svc, vdi, host);
  return backendOf(x, () => svc.hosts.get(host).blockdev_nbd_close(x.id));
}

export function backendOf(x: { socket: string; exportName: string }, close: () => Promise<void>): Backend {
  return { socketPath: x.socket, exportName: x.exportName, close };
}
