// Running a storage-migration plan (storage-migrate-plan.ts) inside one pool: new volumes on the
// destination SRs, the destination's instance spec with those disks, the move itself, then the
// database switch (xapi's intra_pool_vdi_remap: the VBDs point at the new VDIs, the old VDIs and
// their volumes go). A failure destroys the new volumes and changes nothing else.
import { randomUUID } from 'node:crypto';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import { withIntent } from '../storage/intents.js';
import { attachedSr } from '../storage/records.js';
import { storageOf } from '../storage/sr-host.js';
import { destroyVdi, recordNewVolume } from '../storage/vdi-ops.js';
import { type DiskMove, movedVdiFields } from './storage-migrate-plan.js';

const log = logger('storage-migrate');

/** Old VDI ref → the new VDI made for it on its destination SR. */
export type VdiRemap = Map<string, string>;

/**
 * An empty volume for each moving disk on its destination SR (through the host that serves that
 * SR), recorded as a VDI with the source's description and virtual size. All or nothing.
 */
export async function createDestinationVdis(
  svc: Services,
  moves: DiskMove[],
  task: string,
): Promise<VdiRemap> {
  const made: VdiRemap = new Map();
  try {
    for (const m of moves) {
      const row = svc.db.mustGet('VDI', m.vdi);
      const cfg = attachedSr(svc, m.to);
      const uuid = randomUUID();
      const vdi = await withIntent(
        svc,
        { kind: 'create', srUuid: cfg.uuid, location: uuid, vdiUuid: uuid },
        async () => {
          const vol = await storageOf(svc, m.to).blockdev_create(cfg, uuid, m.virtualSize);
          return recordNewVolume(svc, m.to, cfg, vol, { ...movedVdiFields(row), uuid });
        },
      );
      made.set(m.vdi, vdi);
    }
    return made;
  } catch (e) {
    await destroyVdis(svc, [...made.values()], task);
    throw e;
  }
}

/** Destroys VDIs and their volumes, best effort (cleanup after a failure, old disks after success). */
export async function destroyVdis(svc: Services, vdis: string[], task: string): Promise<void> {
  for (const v of vdis) {
    if (!svc.db.has('VDI', v)) continue;
    await destroyVdi(svc, v, task).catch((e) =>
      log.warn('could not remove a volume after storage migration', { vdi: v, error: String(e) }),
    );
  }
}

/**
 * After the guest runs on the new volumes: the moved disks' VBDs point at their new VDIs (xapi's
 * intra_pool_vdi_remap), then each old VDI goes with its volume unless another VBD still uses it.
 */
export async function switchToNewVdis(
  svc: Services,
  moves: DiskMove[],
  remap: VdiRemap,
  task: string,
): Promise<void> {
  const { db } = svc;
  db.transaction(() => {
    for (const m of moves) {
      const to = remap.get(m.vdi);
      if (to && db.has('VBD', m.vbd)) db.update('VBD', m.vbd, { VDI: to });
    }
  });
  for (const oldVdi of remap.keys()) {
    const left = (db.get('VDI', oldVdi)?.VBDs as string[] | undefined) ?? [];
    if (left.length) log.warn('moved disk kept: other VBDs use it', { vdi: oldVdi, vbds: left });
    else await destroyVdis(svc, [oldVdi], task);
  }
}
