// VDI operations shared by the VDI API and the VM disk functions: the storage work through the
// host's storage agent, bracketed by an intent so a crash leaves no half-made VDI or stray volume.
import { randomUUID } from 'node:crypto';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { Row } from '../db/database.js';
import type { Services } from '../api/context.js';
import { needHotplug, vmHost } from '../api/vbd.js';
import { nowXapi } from '../time.js';
import { withIntent } from './intents.js';
import {
  attachedSr,
  attachedVbds,
  busyLocations,
  driverInfoOf,
  recordSrStats,
  refreshSrStats,
  vdiFields,
  withLock,
  withVdiOperation,
} from './records.js';
import type { SrConfig, Volume } from '../../shared/host/storage.js';
import { assertHasData, carryCbt, cbtFieldsOf } from './cbt.js';
import { liveHolder } from './live-snapshot.js';
import { storageOf } from './sr-host.js';
import { vbdDevice, vmDisks } from './vm-disks.js';

const log = logger('storage');

export function assertCapability(svc: Services, sr: string, cap: string) {
  const type = String(svc.db.mustGet('SR', sr).type);
  if (!driverInfoOf(svc, type)?.capabilities.includes(cap))
    throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr]);
}

/** Records a volume the agent just made as a VDI; if that fails, the volume goes again. */
export async function recordNewVolume(
  svc: Services,
  sr: string,
  cfg: SrConfig,
  vol: Volume,
  fields: Row,
): Promise<string> {
  try {
    const ref = svc.db.create('VDI', vdiFields(sr, vol, driverInfoOf(svc, cfg.type), fields));
    recordSrStats(svc.db, sr, undefined);
    void refreshSrStats(svc, sr, cfg);
    return ref;
  } catch (e) {
    await storageOf(svc, sr)
      .blockdev_remove(cfg, vol.location)
      .catch(() => undefined);
    throw e;
  }
}

export interface NewVdi {
  SR: string;
  virtual_size: number;
  name_label?: string;
  name_description?: string;
  type?: string;
  sharable?: boolean;
  read_only?: boolean;
  other_config?: Record<string, string>;
  xenstore_data?: Record<string, string>;
  sm_config?: Record<string, string>;
  tags?: string[];
}

export async function createVdi(svc: Services, rec: NewVdi): Promise<string> {
  const sr = rec.SR;
  const cfg = attachedSr(svc, sr);
  assertCapability(svc, sr, 'VDI_CREATE');
  const size = Number(rec.virtual_size);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new XenApiError('INVALID_VALUE', ['virtual_size', String(rec.virtual_size)]);
  const uuid = randomUUID();
  return withIntent(svc, { kind: 'create', srUuid: cfg.uuid, location: uuid, vdiUuid: uuid }, async () => {
    const vol = await storageOf(svc, sr).blockdev_create(cfg, uuid, size);
    const { SR: _sr, virtual_size: _vs, ...rest } = rec;
    return recordNewVolume(svc, sr, cfg, vol, { ...rest, uuid });
  });
}

/** A new VDI in `sr` holding a host file's bytes (suspend images); crash-safe like create. */
export async function importFileVdi(
  svc: Services,
  sr: string,
  file: string,
  fields: Omit<NewVdi, 'SR' | 'virtual_size'>,
): Promise<string> {
  const cfg = attachedSr(svc, sr);
  assertCapability(svc, sr, 'VDI_CREATE');
  const uuid = randomUUID();
  return withIntent(svc, { kind: 'create', srUuid: cfg.uuid, location: uuid, vdiUuid: uuid }, async () => {
    const vol = await storageOf(svc, sr).blockdev_import_file(cfg, uuid, file);
    return recordNewVolume(svc, sr, cfg, vol, { ...fields, uuid });
  });
}

/** Writes a VDI's content into a raw host file (cut to `bytes`). */
export async function exportVdiToFile(
  svc: Services,
  vdi: string,
  file: string,
  bytes?: number,
): Promise<void> {
  const row = svc.db.mustGet('VDI', vdi);
  const cfg = attachedSr(svc, String(row.SR));
  await storageOf(svc, String(row.SR)).blockdev_export_file(cfg, String(row.location), file, bytes);
}

/** Starts a background GC of an SR (after deletes), one at a time per SR. */
export function scheduleGc(svc: Services, sr: string): Promise<string[]> {
  return withLock(`gc:${sr}`, async () => {
    const row = svc.db.get('SR', sr);
    if (!row) return [];
    let cfg: SrConfig;
    try {
      cfg = attachedSr(svc, sr);
    } catch {
      return [];
    }
    const done = await storageOf(svc, sr).sr_gc(cfg, busyLocations(svc.db, sr));
    if (done.length) log.info('sr gc', { sr: row.uuid, done });
    await refreshSrStats(svc, sr, cfg);
    return done;
  }).catch((e) => {
    log.warn('sr gc failed', { sr, error: String(e) });
    return [];
  });
}

export async function destroyVdi(svc: Services, vdi: string, task: string): Promise<void> {
  const { db } = svc;
  const row = db.mustGet('VDI', vdi);
  const sr = String(row.SR);
  if (attachedVbds(db, vdi).length) throw new XenApiError('VDI_IN_USE', [vdi, 'destroy']);
  const cfg = attachedSr(svc, sr);
  assertCapability(svc, sr, 'VDI_DELETE');
  await withVdiOperation(svc, vdi, 'destroy', task, () =>
    withIntent(
      svc,
      { kind: 'destroy', srUuid: cfg.uuid, location: String(row.location), vdiUuid: String(row.uuid) },
      async () => {
        await storageOf(svc, sr).blockdev_remove(cfg, String(row.location));
        db.transaction(() => {
          for (const vbd of [...(row.VBDs as string[])]) if (db.has('VBD', vbd)) db.destroy('VBD', vbd);
          db.destroy('VDI', vdi);
          recordSrStats(db, sr, undefined);
        });
      },
    ),
  );
  void scheduleGc(svc, sr);
}

/**
 * Where an attached VDI is resized online: its one running VM and the disk as QEMU knows it.
 * VDI_IN_USE if it is attached to a VM that is not running, or to several VMs at once.
 */
function onlineTarget(svc: Services, vdi: string, attached: string[]) {
  const { db } = svc;
  if (attached.length > 1) throw new XenApiError('VDI_IN_USE', [vdi, 'resize']);
  const vbd = db.mustGet('VBD', attached[0]);
  const vm = db.mustGet('VM', String(vbd.VM));
  if (vm.power_state !== 'Running' && vm.power_state !== 'Paused')
    throw new XenApiError('VDI_IN_USE', [vdi, 'resize']);
  const device = vbdDevice(vbd);
  const disk = vmDisks(db, String(vbd.VM), vmHost(svc, vm)).find((d) => d.device === device);
  if (!disk) throw new XenApiError('VDI_MISSING', [String(db.mustGet('VDI', vdi).SR), vdi]);
  return { hotplug: needHotplug(svc, vm), vmUuid: String(vm.uuid), disk };
}

export async function resizeVdi(svc: Services, vdi: string, size: number, task: string): Promise<void> {
  const { db } = svc;
  const row = db.mustGet('VDI', vdi);
  const sr = String(row.SR);
  assertHasData(vdi, row);
  if (row.read_only) throw new XenApiError('VDI_READONLY', [vdi]);
  const attached = attachedVbds(db, vdi);
  const cfg = attachedSr(svc, sr);
  assertCapability(svc, sr, 'VDI_RESIZE');
  if (!Number.isSafeInteger(size) || size < Number(row.virtual_size))
    throw new XenApiError('VDI_TOO_SMALL', [vdi, String(size)]);
  const online = attached.length ? onlineTarget(svc, vdi, attached) : undefined;
  if (online) assertCapability(svc, sr, 'VDI_RESIZE_ONLINE');
  await withVdiOperation(svc, vdi, online ? 'resize_online' : 'resize', task, async () => {
    const location = String(row.location);
    let vol: Volume;
    if (!online) vol = await storageOf(svc, sr).blockdev_grow(cfg, location, size);
    else {
      // A qcow2 image is grown by the QEMU that has it open; a raw volume is grown first.
      if (online.disk.format !== 'qcow2') await storageOf(svc, sr).blockdev_grow(cfg, location, size);
      await online.hotplug.blockResize(online.vmUuid, online.disk.device, size);
      const found = await storageOf(svc, sr).blockdev_find(cfg, location);
      if (!found) throw new XenApiError('VDI_MISSING', [sr, vdi]);
      vol = found;
    }
    db.transaction(() => {
      db.update('VDI', vdi, { virtual_size: vol.virtualSize, physical_utilisation: vol.physicalUtilisation });
      recordSrStats(db, sr, undefined);
    });
  });
}

export type CloneKind = 'clone' | 'snapshot';

/** The record of a clone or snapshot of VDI `vdi` (row `row`) with uuid `uuid` (pure). */
export function cloneFields(row: Row, vdi: string, kind: CloneKind, uuid: string, extra: Row = {}): Row {
  return {
    ...cbtFieldsOf(row, kind),
    uuid,
    name_label: row.name_label,
    name_description: row.name_description,
    type: row.type,
    sharable: row.sharable,
    read_only: kind === 'snapshot' ? row.read_only : false,
    other_config: { ...(row.other_config as object) },
    xenstore_data: { ...(row.xenstore_data as object) },
    sm_config: { ...(row.sm_config as object) },
    tags: [...(row.tags as string[])],
    on_boot: row.on_boot,
    ...(kind === 'snapshot' ? { is_a_snapshot: true, snapshot_of: vdi, snapshot_time: nowXapi() } : {}),
    ...extra,
  };
}

/** VDI.clone / VDI.snapshot: a thin copy in the same SR (full copy on thick SRs). */
export async function cloneVdi(
  svc: Services,
  vdi: string,
  kind: CloneKind,
  task: string,
  extra: Row = {},
): Promise<string> {
  const { db } = svc;
  const row = db.mustGet('VDI', vdi);
  const sr = String(row.SR);
  const cfg = attachedSr(svc, sr);
  assertCapability(svc, sr, kind === 'clone' ? 'VDI_CLONE' : 'VDI_SNAPSHOT');
  assertHasData(vdi, row);
  // A running VM's disk changes under its image: only its QEMU can snapshot it (live-snapshot.ts).
  // A suspended VM's disks (still attached) are at rest.
  if (liveHolder(svc, vdi)) throw new XenApiError('VDI_IN_USE', [vdi, kind]);
  const uuid = randomUUID();
  return withVdiOperation(svc, vdi, kind, task, () =>
    withIntent(svc, { kind: 'create', srUuid: cfg.uuid, location: uuid, vdiUuid: uuid }, async () => {
      // Clone and snapshot are the same volume operation (the records differ).
      const vol = await storageOf(svc, sr).blockdev_snapshot(cfg, String(row.location), uuid);
      await carryCbt(svc, vdi, kind, uuid, vol.location);
      const fields = cloneFields(row, vdi, kind, uuid, extra);
      return recordNewVolume(svc, sr, cfg, vol, fields);
    }),
  );
}

/** VDI.copy: a full, independent copy, into `dstSr` (default: the source's SR). */
export async function copyVdi(
  svc: Services,
  vdi: string,
  dstSr: string | undefined,
  task: string,
  extra: Row = {},
): Promise<string> {
  const { db } = svc;
  const row = db.mustGet('VDI', vdi);
  assertHasData(vdi, row);
  const srcSr = String(row.SR);
  const target = dstSr && dstSr !== NULL_REF ? dstSr : srcSr;
  db.mustGet('SR', target);
  const src = attachedSr(svc, srcSr);
  const dst = attachedSr(svc, target);
  assertCapability(svc, target, 'VDI_CREATE');
  const uuid = randomUUID();
  return withVdiOperation(svc, vdi, 'copy', task, () =>
    withIntent(svc, { kind: 'create', srUuid: dst.uuid, location: uuid, vdiUuid: uuid }, async () => {
      const vol = await storageOf(svc, srcSr).blockdev_convert(src, String(row.location), dst, uuid);
      return recordNewVolume(svc, target, dst, vol, {
        uuid,
        name_label: row.name_label,
        name_description: row.name_description,
        type: row.type === 'user' || row.type === 'system' ? row.type : 'user',
        sharable: row.sharable,
        read_only: false,
        other_config: { ...(row.other_config as object) },
        xenstore_data: { ...(row.xenstore_data as object) },
        sm_config: { ...(row.sm_config as object) },
        tags: [...(row.tags as string[])],
        ...extra,
      });
    }),
  );
}
