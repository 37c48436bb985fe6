// The writing half of an import: turns an ImportPlan into records, all or nothing.
//   1. volumes for the new VDIs, through the SR's host (each under a durable create intent, held
//      until the records exist, so a crash in between leaves no stray volume after restart);
//   2. every record (and the replacement of VMs a restore overwrites) in ONE database
//      transaction;
//   3. the caller's disk-data step (writeDisks: the XVA reader streams chunks into plan.disks);
//   4. the VMs leave the `import` operation.
// A failure in 2 removes the volumes; a failure in 3 destroys every record made in 2 and the
// volumes (unless force, as xapi's cleanup stack is skipped with --force).
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import type { Intent } from '../../shared/journal.js';
import type { Volume } from '../../shared/host/storage.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import { attachedSr, driverInfoOf, recordSrStats, refreshVdiOps, vdiFields } from '../storage/records.js';
import { storageOf } from '../storage/sr-host.js';
import { refreshAllowedOperations } from '../vm/vm-state.js';
import type { ImportPlan, PlannedDisk, PlannedRecord } from './import-plan.js';

const log = logger('import');

export interface ApplyHooks {
  /** Streams disk data into the new VDIs (full import); a throw undoes the import. */
  writeDisks?: (disks: PlannedDisk[]) => Promise<void>;
  /** Called inside the transaction after each record is made (tests inject failures here). */
  onRecord?: (rec: PlannedRecord) => void;
}

interface MadeVolume {
  sr: string;
  location: string;
  intent?: Intent;
}

async function removeVolumes(svc: Services, made: MadeVolume[]) {
  for (const v of made) {
    try {
      await storageOf(svc, v.sr).blockdev_remove(attachedSr(svc, v.sr), v.location);
    } catch (e) {
      log.warn('import cleanup: volume not removed', { sr: v.sr, location: v.location, error: String(e) });
    }
    if (v.intent) svc.storageIntents?.end(v.intent);
  }
}

/** Destroys a VM a restore replaces, with its VBDs, VIFs (and metrics), consoles, vTPMs, VM_metrics. */
function destroyReplaced(svc: Services, vm: string) {
  const { db } = svc;
  const row = db.mustGet('VM', vm);
  for (const vif of [...((row.VIFs as string[]) ?? [])]) {
    const m = db.get('VIF', vif)?.metrics;
    if (db.has('VIF', vif)) db.destroy('VIF', vif);
    if (typeof m === 'string' && db.has('VIF_metrics', m)) db.destroy('VIF_metrics', m);
  }
  for (const vbd of [...((row.VBDs as string[]) ?? [])]) if (db.has('VBD', vbd)) db.destroy('VBD', vbd);
  for (const c of [...((row.consoles as string[]) ?? [])]) if (db.has('console', c)) db.destroy('console', c);
  for (const v of [...((row.VTPMs as string[]) ?? [])]) if (db.has('VTPM', v)) db.destroy('VTPM', v);
  db.destroy('VM', vm);
  const metrics = row.metrics;
  if (typeof metrics === 'string' && db.has('VM_metrics', metrics)) db.destroy('VM_metrics', metrics);
}

function createAll(svc: Services, plan: ImportPlan, volumes: Map<string, Volume>, hooks: ApplyHooks) {
  const { db } = svc;
  db.transaction(() => {
    // The plan was made before the volumes: what it reuses or replaces must still be as it saw.
    for (const f of plan.found)
      if (f.ref !== NULL_REF && !db.has(f.cls, f.ref))
        throw new XenApiError('IMPORT_ERROR_GENERIC', [`${f.cls} ${f.ref} went away during the import`]);
    for (const vm of plan.replaces) {
      const state = String(db.get('VM', vm)?.power_state ?? 'Halted');
      if (state !== 'Halted')
        throw new XenApiError('VM_BAD_POWER_STATE', [vm, 'halted', state.toLowerCase()]);
    }
    for (const vm of plan.replaces) if (db.has('VM', vm)) destroyReplaced(svc, vm);
    for (const { vdi, key, value } of plan.vdiSync) {
      const { [key]: _old, ...rest } = (db.mustGet('VDI', vdi).other_config ?? {}) as Record<string, string>;
      db.update('VDI', vdi, { other_config: value === undefined ? rest : { ...rest, [key]: value } });
    }
    for (const rec of plan.creates) {
      let fields = rec.fields;
      const vol = volumes.get(rec.ref);
      if (rec.cls === 'VDI' && vol) {
        const sr = plan.volumes.find((v) => v.ref === rec.ref)!.sr;
        const type = String(db.mustGet('SR', sr).type);
        fields = vdiFields(sr, vol, driverInfoOf(svc, type), { ...fields, SR: sr });
      }
      db.create(rec.cls, fields, rec.ref);
      hooks.onRecord?.(rec);
    }
    for (const vm of plan.allVms) if (db.has('VM', vm)) refreshAllowedOperations(db, vm);
    for (const rec of plan.creates)
      if (rec.cls === 'VBD' && !rec.fields.empty) refreshVdiOps(svc, String(rec.fields.VDI));
    for (const sr of new Set(plan.volumes.map((v) => v.sr))) recordSrStats(db, sr, undefined);
  });
}

function destroyAll(svc: Services, plan: ImportPlan) {
  const { db } = svc;
  db.transaction(() => {
    for (const rec of [...plan.creates].reverse()) if (db.has(rec.cls, rec.ref)) db.destroy(rec.cls, rec.ref);
  });
}

/** Ends the `import` operation on the imported VMs (Import.complete_import). */
function completeImport(svc: Services, plan: ImportPlan) {
  const { db } = svc;
  const task = plan.task;
  db.transaction(() => {
    for (const vm of plan.allVms) {
      const row = db.get('VM', vm);
      if (!row) continue;
      if (task && Object.hasOwn((row.current_operations as object) ?? {}, task)) {
        const { [task]: _done, ...rest } = row.current_operations as Record<string, string>;
        db.update('VM', vm, { current_operations: rest });
      }
      refreshAllowedOperations(db, vm);
    }
  });
}

/** Applies a plan (see the file comment); returns the task result: plan.vms. */
export async function applyImportPlan(
  svc: Services,
  plan: ImportPlan,
  hooks: ApplyHooks = {},
): Promise<string[]> {
  const made: MadeVolume[] = [];
  const volumes = new Map<string, Volume>();
  try {
    for (const v of plan.volumes) {
      const cfg = attachedSr(svc, v.sr);
      const intent = svc.storageIntents?.begin({
        kind: 'create',
        srUuid: cfg.uuid,
        location: v.uuid,
        vdiUuid: v.uuid,
      });
      const entry: MadeVolume = { sr: v.sr, location: v.uuid, intent };
      made.push(entry);
      const vol = await storageOf(svc, v.sr).blockdev_create(cfg, v.uuid, v.virtualSize);
      entry.location = vol.location;
      volumes.set(v.ref, vol);
    }
    createAll(svc, plan, volumes, hooks);
  } catch (e) {
    await removeVolumes(svc, made);
    throw e;
  }
  // The records exist: the volumes are the database's now.
  for (const m of made) if (m.intent) svc.storageIntents?.end(m.intent);
  try {
    if (hooks.writeDisks && plan.disks.length) await hooks.writeDisks(plan.disks);
  } catch (e) {
    if (plan.force) {
      log.warn('import failed; not cleaning up since force was given', { error: String(e) });
      throw e;
    }
    await undoImport(svc, plan, made);
    throw e;
  }
  completeImport(svc, plan);
  return plan.vms;
}

/** Removes what applyImportPlan made: every record, then the new VDIs' volumes. */
async function undoImport(svc: Services, plan: ImportPlan, made: MadeVolume[]) {
  const again = made.map((m) => ({
    ...m,
    intent: svc.storageIntents?.begin({
      kind: 'destroy',
      srUuid: attachedSr(svc, m.sr).uuid,
      location: m.location,
      vdiUuid: String(plan.volumes.find((v) => v.uuid === m.location)?.uuid ?? m.location),
    }),
  }));
  destroyAll(svc, plan);
  await removeVolumes(svc, again);
}
