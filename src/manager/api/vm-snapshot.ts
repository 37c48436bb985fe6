// VM.checkpoint and VM.revert, as xapi's Xapi_vm_snapshot does them. (VM.snapshot_with_quiesce
// is a removed message: the dispatcher answers MESSAGE_REMOVED, as xapi; the operation check
// answers VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED: vm/lifecycle.ts.)
// VM.snapshot itself is in vm.ts (a running VM's disks go the live way: storage/live-snapshot.ts).
//
// checkpoint: the disks and the memory at one instant. xapi suspends the VM, clones its disks
//   and suspend image, and resumes it; Berth keeps the QEMU: vCPUs stop, QEMU snapshots the disks
//   and writes its state, the guest runs on. The snapshot is Suspended, its suspend_VDI holds the
//   memory (storage/suspend-image.ts).
// revert: the VM is hard-shut-down if it is not halted, takes the snapshot's configuration, its
//   snapshotted disks (and suspend image) are replaced by clones of the snapshot's, its VIFs by
//   the snapshot's (same MACs), and it ends in the snapshot's power state (Halted, or Suspended
//   for a checkpoint: VM.resume then continues the guest from that instant).
import { randomUUID } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { Row } from '../db/database.js';
import type { LiveSnapshot } from '../storage/live-snapshot.js';
import { isNull } from '../storage/records.js';
import { storeSuspendImage } from '../storage/suspend-image.js';
import { cloneVdi, destroyVdi } from '../storage/vdi-ops.js';
import { createVbdLike } from '../storage/vm-disks.js';
import { copyVifs } from '../network/vif-copy.js';
import { recordLiveTiming, snapshotOverrides } from '../vm/snapshot-record.js';
import { refreshAllowedOperations, setPowerState, withVmOperation } from '../vm/vm-state.js';
import type { CallContext, HandlerTable } from './context.js';
import { copyVm, recordHalted, suspendImagePath, vmApi } from './vm.js';

const log = logger('vm');

const taskOf = (ctx: CallContext) => ctx.task?.ref ?? `OpaqueRef:${randomUUID()}`;

/** VM fields a revert takes from the snapshot: the VM's configuration (xapi copies all but
 * identity, runtime state, links and snapshot bookkeeping; this is that set, listed). */
export const REVERTED_FIELDS = [
  'name_description',
  'user_version',
  'memory_overhead',
  'memory_target',
  'memory_static_max',
  'memory_dynamic_max',
  'memory_dynamic_min',
  'memory_static_min',
  'VCPUs_params',
  'VCPUs_max',
  'VCPUs_at_startup',
  'actions_after_softreboot',
  'actions_after_shutdown',
  'actions_after_reboot',
  'actions_after_crash',
  'PV_bootloader',
  'PV_kernel',
  'PV_ramdisk',
  'PV_args',
  'PV_bootloader_args',
  'PV_legacy_args',
  'HVM_boot_policy',
  'HVM_boot_params',
  'HVM_shadow_multiplier',
  'platform',
  'PCI_bus',
  'other_config',
  'recommendations',
  'xenstore_data',
  'ha_restart_priority',
  'bios_strings',
  'suspend_SR',
  'hardware_platform_version',
  'has_vendor_device',
  'domain_type',
  'NVRAM',
  'shutdown_delay',
  'start_delay',
  'order',
  'blocked_operations',
];

async function checkpoint(ctx: CallContext, vm: string, newName: string): Promise<string> {
  const { svc } = ctx;
  const { db } = svc;
  const rec = db.mustGet('VM', vm);
  const state = String(rec.power_state);
  if (state === 'Suspended') {
    // Disks at rest and the memory already in a VDI: offline snapshots and a clone of the image.
    const image = String(rec.suspend_VDI);
    if (isNull(image) || !db.has('VDI', image))
      throw new XenApiError('OPERATION_NOT_ALLOWED', [
        'the suspend image of this VM is not in an SR: resume it first',
      ]);
    const snap = await copyVm(ctx, vm, 'snapshot', snapshotOverrides(vm, newName, state));
    try {
      const copy = await cloneVdi(svc, image, 'clone', taskOf(ctx));
      db.transaction(() => {
        db.update('VM', snap, { suspend_VDI: copy, power_state: 'Suspended' });
        refreshAllowedOperations(db, snap);
      });
    } catch (e) {
      await destroySnapshotVm(ctx, snap);
      throw e;
    }
    return snap;
  }
  // The memory goes to a host file first (the agent writes it), then into the snapshot's VDI.
  const file = suspendImagePath(svc, `checkpoint-${randomUUID()}`);
  let live: LiveSnapshot | undefined;
  try {
    const snap = await copyVm(ctx, vm, 'snapshot', snapshotOverrides(vm, newName, state), undefined, [], {
      memoryPath: file,
      onLive: (l) => (live = l),
    });
    if (live) recordLiveTiming(db, snap, live);
    const named = suspendImagePath(svc, String(db.mustGet('VM', snap).uuid));
    renameSync(file, named);
    await storeSuspendImage(svc, snap, named);
    db.transaction(() => {
      db.update('VM', snap, { power_state: 'Suspended' });
      refreshAllowedOperations(db, snap);
    });
    return snap;
  } finally {
    rmSync(file, { force: true });
  }
}

/** Removes a snapshot VM made by a checkpoint that then failed, with its disks. */
async function destroySnapshotVm(ctx: CallContext, snap: string): Promise<void> {
  const { db } = ctx.svc;
  const vdis = (db.mustGet('VM', snap).VBDs as string[])
    .map((b) => db.get('VBD', b))
    .filter((b): b is Row => Boolean(b && b.type !== 'CD' && !isNull(b.VDI)))
    .map((b) => String(b.VDI));
  const destroy = vmApi.handlers['VM.destroy'] as (c: CallContext, v: string) => Promise<void>;
  await destroy(ctx, snap).catch(() => undefined);
  for (const v of vdis) await destroyVdi(ctx.svc, v, taskOf(ctx)).catch(() => undefined);
}

/** Destroys a VBD that is not attached (revert replaces them all). */
function dropVbd(ctx: CallContext, vbd: string) {
  const { db } = ctx.svc;
  if (!db.has('VBD', vbd)) return;
  const metrics = String(db.get('VBD', vbd)?.metrics ?? NULL_REF);
  if (!isNull(metrics) && db.has('VBD_metrics', metrics)) db.destroy('VBD_metrics', metrics);
  db.destroy('VBD', vbd);
}

/** Xapi_vm_snapshot.revert_vbds: the VM's disks become clones of the snapshot's. */
async function revertDisks(ctx: CallContext, snapshot: string, vm: string, task: string): Promise<void> {
  const { svc } = ctx;
  const { db } = svc;
  const snapVbds = (db.mustGet('VM', snapshot).VBDs as string[]).map(
    (r) => [r, db.mustGet('VBD', r)] as const,
  );
  const isDisk = (b: Row) => b.type !== 'CD' && !b.empty && !isNull(b.VDI) && db.has('VDI', String(b.VDI));
  const snapOf = new Set(
    snapVbds
      .filter(([, b]) => isDisk(b))
      .map(([, b]) => String(db.mustGet('VDI', String(b.VDI)).snapshot_of)),
  );
  const vmRow = db.mustGet('VM', vm);
  const vmVbds = [...(vmRow.VBDs as string[])];
  const doomed = vmVbds
    .map((r) => db.get('VBD', r))
    .filter((b): b is Row => Boolean(b && isDisk(b) && snapOf.has(String(b.VDI))))
    .map((b) => String(b.VDI));
  if (!isNull(vmRow.suspend_VDI) && db.has('VDI', String(vmRow.suspend_VDI)))
    doomed.push(String(vmRow.suspend_VDI));
  // Read before the VM's disks go (their refs then dangle or are cleared).
  const snapshotOf = new Map(
    snapVbds
      .filter(([, b]) => isDisk(b))
      .map(([, b]) => [String(b.VDI), String(db.mustGet('VDI', String(b.VDI)).snapshot_of)]),
  );
  // Every VBD of the VM goes (disks without a snapshot stay, unattached, as in xapi).
  db.transaction(() => {
    for (const vbd of vmVbds) dropVbd(ctx, vbd);
    db.update('VM', vm, { suspend_VDI: NULL_REF });
  });
  for (const vdi of doomed) await destroyVdi(svc, vdi, task);
  const made: string[] = [];
  try {
    for (const [, b] of snapVbds) {
      let vdi = String(b.VDI);
      if (isDisk(b)) {
        const cloned = await cloneVdi(svc, vdi, 'clone', task);
        made.push(cloned);
        // Every snapshot of the disk that was replaced is now a snapshot of its clone.
        const of = snapshotOf.get(vdi) ?? NULL_REF;
        db.transaction(() => {
          for (const [ref, row] of db.all('VDI'))
            if (!isNull(of) && String(row.snapshot_of) === of) db.update('VDI', ref, { snapshot_of: cloned });
          if (isNull(of)) db.update('VDI', vdi, { snapshot_of: cloned });
        });
        vdi = cloned;
      }
      createVbdLike(db, b, vm, vdi);
    }
    const suspend = String(db.mustGet('VM', snapshot).suspend_VDI);
    if (!isNull(suspend) && db.has('VDI', suspend)) {
      const image = await cloneVdi(svc, suspend, 'clone', task);
      made.push(image);
      db.update('VM', vm, { suspend_VDI: image });
    }
  } catch (e) {
    for (const v of made) await destroyVdi(svc, v, task).catch(() => undefined);
    throw e;
  }
}

async function revert(ctx: CallContext, snapshot: string): Promise<void> {
  const { svc } = ctx;
  const { db } = svc;
  const snap = db.mustGet('VM', snapshot);
  const task = taskOf(ctx);
  if (!snap.is_a_snapshot) throw new XenApiError('REVERT_ONLY_ALLOWED_ON_SNAPSHOT', []);
  const vm = String(snap.snapshot_of);
  // xapi recreates a deleted VM from the snapshot's metadata; Berth keeps no such metadata yet.
  if (isNull(vm) || !db.has('VM', vm))
    throw new XenApiError('OPERATION_NOT_ALLOWED', ['the VM of this snapshot no longer exists']);
  if (snap.power_state === 'Suspended') {
    const image = String(snap.suspend_VDI);
    const hostFile = suspendImagePath(svc, String(snap.uuid));
    if ((isNull(image) || !db.has('VDI', image)) && !existsSync(hostFile))
      throw new XenApiError('VDI_MISSING', [NULL_REF, image]);
  }
  await withVmOperation(db, snapshot, 'revert', task, () =>
    withVmOperation(db, vm, 'reverting', task, async () => {
      if (db.mustGet('VM', vm).power_state !== 'Halted') {
        const hardShutdown = vmApi.handlers['VM.hard_shutdown'] as (
          c: CallContext,
          v: string,
        ) => Promise<void>;
        await hardShutdown(ctx, vm);
      }
      try {
        db.transaction(() => {
          const fields: Row = {};
          for (const k of REVERTED_FIELDS) if (k in snap) fields[k] = structuredClone(snap[k]);
          fields.ha_always_run = false;
          fields.parent = snapshot;
          db.update('VM', vm, fields);
        });
        await revertDisks(ctx, snapshot, vm, task);
        db.transaction(() => {
          for (const vif of [...(db.mustGet('VM', vm).VIFs as string[])]) {
            const metrics = String(db.get('VIF', vif)?.metrics ?? NULL_REF);
            if (db.has('VIF_metrics', metrics)) db.destroy('VIF_metrics', metrics);
            if (db.has('VIF', vif)) db.destroy('VIF', vif);
          }
          copyVifs(db, snapshot, vm, true);
        });
        // A checkpoint whose image stayed a host file (no SR for images): the VM's copy of it.
        const hostFile = suspendImagePath(svc, String(snap.uuid));
        if (
          snap.power_state === 'Suspended' &&
          isNull(db.mustGet('VM', vm).suspend_VDI) &&
          existsSync(hostFile)
        )
          throw new XenApiError('OPERATION_NOT_ALLOWED', ['the checkpoint memory image is not in an SR']);
        setPowerState(db, vm, snap.power_state === 'Suspended' ? 'Suspended' : 'Halted');
      } catch (e) {
        log.warn('revert failed', { vm, snapshot, error: String(e) });
        recordHalted(db, vm);
        if (e instanceof XenApiError && ['SR_FULL', 'VDI_INCOMPATIBLE_TYPE'].includes(e.code)) throw e;
        throw new XenApiError('VM_REVERT_FAILED', [snapshot, vm]);
      }
    }),
  );
}

export const vmSnapshotApi: HandlerTable = {
  handlers: {
    'VM.checkpoint': async (ctx, vm, newName) =>
      withVmOperation(ctx.svc.db, vm, 'checkpoint', taskOf(ctx), () => checkpoint(ctx, vm, newName)),
    'VM.revert': (ctx, snapshot) => revert(ctx, snapshot),
  },
};
