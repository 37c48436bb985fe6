// Suspend images as VDIs (xapi's VM.suspend_VDI): the agent saves a suspending VM's state to a
// host file under DATA/suspend; the file's bytes then move into a new VDI of type `suspend` in the
// suspend SR (host.suspend_image_sr, else pool.suspend_image_SR, else the pool's default SR).
// Resume writes them back to a file for QEMU and destroys the VDI. Without a usable SR the image
// stays a host file, as before storage existed.
import { rmSync, statSync } from 'node:fs';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import { isNull, localPbd } from './records.js';
import { destroyVdi, exportVdiToFile, importFileVdi } from './vdi-ops.js';

const log = logger('storage');

/** The image's exact length (volumes are whole sectors), kept in the VDI's sm_config. */
const BYTES_KEY = 'suspend-image-bytes';

/** The SR a suspend image goes to, or undefined when none is plugged on this host. */
export function suspendImageSr(svc: Services): string | undefined {
  const { db } = svc;
  const host = db.get('host', svc.hostRef());
  const pool = db.get('pool', svc.poolRef());
  for (const sr of [host?.suspend_image_sr, pool?.suspend_image_SR, pool?.default_SR]) {
    const ref = String(sr ?? NULL_REF);
    if (isNull(ref) || !db.has('SR', ref)) continue;
    const pbd = localPbd(svc, ref);
    if (pbd && db.get('PBD', pbd)?.currently_attached) return ref;
  }
  return undefined;
}

/**
 * After the agent saved `file`: moves it into a new VDI and records it as VM.suspend_VDI; if
 * that fails the file stays where it is and resume uses it.
 */
export async function storeSuspendImage(svc: Services, vm: string, file: string): Promise<void> {
  const sr = svc.storageDrivers ? suspendImageSr(svc) : undefined;
  if (!sr) return;
  const { db } = svc;
  const rec = db.mustGet('VM', vm);
  const bytes = statSync(file).size;
  let vdi: string;
  try {
    vdi = await importFileVdi(svc, sr, file, {
      name_label: 'Suspend image',
      name_description: `Suspend image of VM ${String(rec.name_label)} (${String(rec.uuid)})`,
      type: 'suspend',
      sharable: false,
      read_only: false,
      other_config: {},
      sm_config: { [BYTES_KEY]: String(bytes) },
    });
  } catch (e) {
    // The VM is suspended either way: its image then stays a host file (resume reads it there).
    log.warn('suspend image kept as a host file', { vm: rec.uuid, error: String(e) });
    return;
  }
  db.update('VM', vm, { suspend_VDI: vdi });
  rmSync(file, { force: true });
}

/** Before resume: writes VM.suspend_VDI back to `file` (a no-op for a host-file image). */
export async function loadSuspendImage(svc: Services, vm: string, file: string): Promise<void> {
  const { db } = svc;
  const vdi = String(db.mustGet('VM', vm).suspend_VDI);
  if (isNull(vdi) || !db.has('VDI', vdi)) return;
  const bytes = Number((db.mustGet('VDI', vdi).sm_config as Record<string, string>)[BYTES_KEY]);
  await exportVdiToFile(svc, vdi, file, Number.isSafeInteger(bytes) ? bytes : undefined);
}

/** After resume or a hard shutdown of a suspended VM: the image is of no further use. */
export async function discardSuspendImage(svc: Services, vm: string, task: string): Promise<void> {
  const { db } = svc;
  const rec = db.get('VM', vm);
  const vdi = String(rec?.suspend_VDI ?? NULL_REF);
  if (isNull(vdi)) return;
  db.update('VM', vm, { suspend_VDI: NULL_REF });
  if (!db.has('VDI', vdi)) return;
  await destroyVdi(svc, vdi, task).catch((e) =>
    log.warn('could not destroy a suspend image', { vdi, error: String(e) }),
  );
}
