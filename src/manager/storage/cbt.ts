// Changed-block tracking, as XenServer/XCP-ng offer it (VDI.enable_cbt, disable_cbt,
// list_changed_blocks, data_destroy, the cbt_enabled field), on QEMU persistent dirty bitmaps in
// the disks' qcow2 images. The image work is the SR host's agent's (host contract
// src/shared/host/cbt.ts); here: xapi's checks and errors, the records, and the snapshot hook.
//
// For the snapshot paths: right after the volume snapshot, call
//   carryCbt(svc, vdi, kind, newUuid, newLocation)
// and give the new record `cbtFieldsOf(row, kind)` (VDI.snapshot / VM.snapshot of halted disks
// do, in vdi-ops.ts). A live snapshot (live-snapshot.ts) first gets `liveCbtCarry(db, vdi,
// newUuid)` for the agent (which carries the bitmaps across QEMU's snapshot, cbt-live.ts
// liveSnapshotBitmapsBefore/liveSnapshotCatchUp), then calls carryCbt(…, { sourceLive: true })
// for the snapshot's image. Bitmap naming: docs/decisions.md "cbt (issue 14)"; live snapshots:
// "livecbt (issue 14)".
import { XenApiError } from '../../shared/errors.js';
import type { CbtCarry } from '../../shared/host/cbt.js';
import { CBT_BLOCK } from '../../shared/cbt/changed-blocks.js';
import type { Database, Row } from '../db/database.js';
import type { Services } from '../api/context.js';
import {
  attachedSr,
  attachedVbds,
  driverInfoOf,
  recordSrStats,
  refreshVdiOps,
  withVdiOperation,
} from './records.js';
import { vmHost } from '../api/vbd.js';
import { hostForSr } from './sr-host.js';
import { vbdDevice } from './vm-disks.js';
import { scheduleGc } from './vdi-ops.js';

/** The SM feature of enable/disable_cbt, list_changed_blocks and data_destroy (xapi's name). */
export const CBT_FEATURE = 'VDI_CONFIG_CBT';

const cbtOf = (svc: Services, sr: string) => svc.hosts.get(hostForSr(svc, sr)).cbt;

function assertCbtSr(svc: Services, sr: string) {
  const type = String(svc.db.mustGet('SR', sr).type);
  if (!driverInfoOf(svc, type)?.capabilities.includes(CBT_FEATURE))
    throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr]);
}

/** VBDs that hold a VDI now: plugged, or reserved for a start in progress (xapi's "active"). */
function activeVbds(db: Database, vdi: string): Row[] {
  return ((db.get('VDI', vdi)?.VBDs as string[]) ?? [])
    .map((b) => db.get('VBD', b))
    .filter((b): b is Row => Boolean(b && (b.currently_attached || b.reserved)));
}

/** clone, copy, resize, snapshot… of a cbt_metadata VDI (no data): VDI_INCOMPATIBLE_TYPE, as xapi. */
export function assertHasData(vdi: string, row: Row) {
  if (row.type === 'cbt_metadata') throw new XenApiError('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata']);
}

/** xapi's checks of enable_cbt / disable_cbt (check_operation_error), in its order. */
export function checkCbtToggle(db: Database, vdi: string, row: Row, op: string) {
  if (row.type === 'cbt_metadata') throw new XenApiError('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata']);
  if (row.is_a_snapshot) throw new XenApiError('OPERATION_NOT_ALLOWED', [`VDI is a snapshot: ${vdi}`]);
  if (row.type !== 'user' && row.type !== 'system')
    throw new XenApiError('VDI_INCOMPATIBLE_TYPE', [vdi, String(row.type)]);
  if (row.on_boot === 'reset') throw new XenApiError('VDI_ON_BOOT_MODE_INCOMPATIBLE_WITH_OPERATION', []);
  liveTarget(db, vdi, op);
}

/**
 * The running VM whose QEMU holds a VDI's image (its bitmaps then change over QMP), or undefined
 * when the disk is halted. VDI_IN_USE when several VMs or a VM that is not running hold it.
 */
function liveTarget(db: Database, vdi: string, op: string): { vm: Row; device: string } | undefined {
  const attached = attachedVbds(db, vdi);
  if (!attached.length) return undefined;
  const vbd = db.mustGet('VBD', attached[0]);
  const vm = db.mustGet('VM', String(vbd.VM));
  if (attached.length > 1 || (vm.power_state !== 'Running' && vm.power_state !== 'Paused'))
    throw new XenApiError('VDI_IN_USE', [vdi, op]);
  return { vm, device: vbdDevice(vbd) };
}

async function changeCbt(svc: Services, vdi: string, on: boolean, task: string): Promise<void> {
  const { db } = svc;
  const row = db.mustGet('VDI', vdi);
  const sr = String(row.SR);
  assertCbtSr(svc, sr);
  checkCbtToggle(db, vdi, row, on ? 'enable_cbt' : 'disable_cbt');
  if (Boolean(row.cbt_enabled) === on) return; // idempotent, as xapi
  const cfg = attachedSr(svc, sr);
  const op = on ? 'enable_cbt' : 'disable_cbt';
  await withVdiOperation(svc, vdi, op, task, async () => {
    const location = String(row.location);
    const live = liveTarget(db, vdi, op);
    if (live) {
      const host = svc.hosts.get(vmHost(svc, live.vm));
      await host.cbt.cbt_live(String(live.vm.uuid), live.device, on ? 'enable' : 'disable', String(row.uuid));
    } else if (on) await cbtOf(svc, sr).cbt_enable(cfg, location, String(row.uuid));
    else await cbtOf(svc, sr).cbt_disable(cfg, location);
    db.update('VDI', vdi, { cbt_enabled: on });
  });
}

export const enableCbt = (svc: Services, vdi: string, task: string) => changeCbt(svc, vdi, true, task);
export const disableCbt = (svc: Services, vdi: string, task: string) => changeCbt(svc, vdi, false, task);

/** The CBT snapshots of a VDI (data-destroyed ones included): the generations worth keeping. */
export function cbtGenerations(db: Database, vdi: string): string[] {
  const sr = db.get('SR', String(db.get('VDI', vdi)?.SR));
  const out: string[] = [];
  for (const v of (sr?.VDIs as string[]) ?? []) {
    const r = db.get('VDI', v);
    if (r && r.snapshot_of === vdi && r.cbt_enabled) out.push(String(r.uuid));
  }
  return out;
}

/** The fields a snapshot or clone of `row` takes over: snapshots keep CBT on, clones start without. */
export const cbtFieldsOf = (row: Row, kind: 'clone' | 'snapshot'): Row => ({
  cbt_enabled: kind === 'snapshot' && Boolean(row.cbt_enabled),
});

/** What cbt_snapshot does after a volume snapshot (pure): undefined when the source has no CBT. */
export function cbtCarryFor(
  row: Row,
  kind: 'clone' | 'snapshot',
  keep: string[],
  newUuid: string,
  newLocation: string,
): CbtCarry | undefined {
  if (!row.cbt_enabled) return undefined;
  // A snapshot's bitmaps are frozen copies: they stay (VM.revert clones snapshots), none starts.
  if (row.is_a_snapshot)
    return { keep: [], frozen: true, ...(kind === 'snapshot' ? { snapshot: newLocation } : {}) };
  if (kind === 'clone') return { keep };
  return { keep, snapshot: newLocation, generation: newUuid };
}

/**
 * The snapshot hook: after blockdev_snapshot of `vdi` (halted) made `newLocation`, the source's
 * kept bitmaps move to its new image, the snapshot gets frozen copies, and a new generation
 * (the snapshot's uuid) starts. Nothing to do when the VDI has no CBT.
 */
export async function carryCbt(
  svc: Services,
  vdi: string,
  kind: 'clone' | 'snapshot',
  newUuid: string,
  newLocation: string,
  opts: { sourceLive?: boolean } = {},
): Promise<void> {
  const row = svc.db.mustGet('VDI', vdi);
  const carry = cbtCarryFor(row, kind, cbtGenerations(svc.db, vdi), newUuid, newLocation);
  if (!carry) return;
  const sr = String(row.SR);
  await cbtOf(svc, sr).cbt_snapshot(attachedSr(svc, sr), String(row.location), {
    ...carry,
    ...(opts.sourceLive ? { sourceLive: true } : {}),
  });
}

/**
 * For a live snapshot of a running disk: the bitmaps its QMP transaction carries to the new
 * active layer (`keep`) and the generation it starts (the snapshot's uuid); undefined without CBT.
 */
export function liveCbtCarry(
  db: Database,
  vdi: string,
  newUuid: string,
): { keep: string[]; generation: string } | undefined {
  const row = db.mustGet('VDI', vdi);
  return row.cbt_enabled ? { keep: cbtGenerations(db, vdi), generation: newUuid } : undefined;
}

/** VDI.list_changed_blocks: the 64 KiB blocks written between snapshot `from` and `to`. */
export async function listChangedBlocks(
  svc: Services,
  from: string,
  to: string,
  task: string,
): Promise<string> {
  const { db } = svc;
  const fromRow = db.mustGet('VDI', from);
  const toRow = db.mustGet('VDI', to);
  const sr = String(toRow.SR);
  assertCbtSr(svc, sr);
  // Disks of snapshot VMs may look attached after VM.checkpoint; xapi lets those through.
  if (activeVbds(db, to).some((b) => !db.get('VM', String(b.VM))?.is_a_snapshot))
    throw new XenApiError('VDI_IN_USE', [to, 'list_changed_blocks']);
  if (!fromRow.cbt_enabled) throw new XenApiError('VDI_NO_CBT_METADATA', [from]);
  if (!toRow.cbt_enabled) throw new XenApiError('VDI_NO_CBT_METADATA', [to]);
  const cfg = attachedSr(svc, sr);
  if (from === to)
    return Buffer.alloc(Math.ceil(Math.ceil(Number(toRow.virtual_size) / CBT_BLOCK) / 8)).toString('base64');
  return withVdiOperation(svc, to, 'list_changed_blocks', task, async () => {
    const bits = await cbtOf(svc, sr).cbt_changed_blocks(cfg, String(toRow.location), String(fromRow.uuid));
    // `to` holds no bitmap of `from`'s generation: not an older snapshot of the same disk, or
    // tracking was interrupted. Never answered as "nothing changed".
    if (bits === null) throw new XenApiError('VDI_NO_CBT_METADATA', [from]);
    return bits;
  });
}

/** How long data_destroy waits for the VDI's VBDs to go away (xapi: 4 s). */
export const DATA_DESTROY_WAIT_MS = 4000;

async function waitForNoVbds(db: Database, vdi: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (!((db.get('VDI', vdi)?.VBDs as string[]) ?? []).length) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * VDI.data_destroy: a CBT snapshot's data goes, its CBT bitmaps stay (type cbt_metadata); a VDI
 * already of that type is left as it is. The freed base is collected by the SR's GC.
 */
export async function dataDestroy(
  svc: Services,
  vdi: string,
  task: string,
  waitMs = DATA_DESTROY_WAIT_MS,
): Promise<void> {
  const { db } = svc;
  const row = db.mustGet('VDI', vdi);
  const sr = String(row.SR);
  assertCbtSr(svc, sr);
  if (!row.is_a_snapshot) throw new XenApiError('OPERATION_NOT_ALLOWED', [`VDI is not a snapshot: ${vdi}`]);
  if (!row.cbt_enabled) throw new XenApiError('VDI_NO_CBT_METADATA', [vdi]);
  if (row.type === 'cbt_metadata') return;
  const cfg = attachedSr(svc, sr);
  // Tentatively cbt_metadata, so no new VBD takes it meanwhile (as xapi); restored on failure.
  const type = row.type;
  db.update('VDI', vdi, { type: 'cbt_metadata' });
  try {
    if (!(await waitForNoVbds(db, vdi, waitMs))) throw new XenApiError('VDI_IN_USE', [vdi, 'data_destroy']);
    await withVdiOperation(svc, vdi, 'data_destroy', task, async () => {
      const vol = await cbtOf(svc, sr).cbt_data_destroy(cfg, String(row.location));
      db.transaction(() => {
        db.update('VDI', vdi, { physical_utilisation: vol.physicalUtilisation });
        recordSrStats(db, sr, undefined);
      });
    });
  } catch (e) {
    if (db.has('VDI', vdi)) db.update('VDI', vdi, { type });
    throw e;
  } finally {
    refreshVdiOps(svc, vdi);
  }
  void scheduleGc(svc, sr);
}
