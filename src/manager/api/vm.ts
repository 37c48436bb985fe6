// VM.*: lifecycle on real QEMU processes through the host agent, and the record-level
// operations (create, destroy, clone, copy, snapshot, provision) for diskless VMs.
import { allocatorChoice } from '../vm/iallocator.js';
import { osFromOtherConfig } from '../../shared/host/os.js';
import { installOs, provisionBefore, undoProvision, validateTemplateOs } from '../vm/os-install.js';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { type Database, newRef, type Row } from '../db/database.js';
import { assertOperationValid } from '../vm/lifecycle.js';
import { releaseHost, reserveHost } from '../vm/reservation.js';
import { cpuCompatError } from '../validation/start-checks.js';
import type { HostAgent } from '../vm/host-agent.js';
import { instanceSpec } from '../vm/spec.js';
import type { InstanceInfo } from '../vm/host-agent.js';
import { isNull } from '../storage/records.js';
import { discardSuspendImage, loadSuspendImage, storeSuspendImage } from '../storage/suspend-image.js';
import { copyVifs } from '../network/vif-copy.js';
import { vmNics } from '../network/vm-nics.js';
import { destroyVdi } from '../storage/vdi-ops.js';
import { copyVmDisks, type DiskCopyMode, setVbdsAttached, vmDisks } from '../storage/vm-disks.js';
import type { LiveSnapshot } from '../storage/live-snapshot.js';
import { recordLiveTiming, snapshotOverrides } from '../vm/snapshot-record.js';
import {
  copyVmFields,
  markStarted,
  newVmMetrics,
  refreshAllowedOperations,
  setPowerState,
  withVmOperation,
} from '../vm/vm-state.js';
import { checkResumeUnlessForced, checkStartUnlessForced } from './forced-checks.js';
import { pushArchivedVmRrd } from '../stats/hooks.js';
import { createRecord } from './implicit.js';
import type { CallContext, HandlerTable, Services } from './context.js';

/** Seconds a clean shutdown/reboot may take before it fails (xapi's default is much longer). */
export const CLEAN_SHUTDOWN_TIMEOUT_MS = Number(process.env.BERTH_CLEAN_SHUTDOWN_TIMEOUT_MS ?? 120_000);

/** The agent of `host` (default: this manager's host); HOST_OFFLINE/CANNOT_CONTACT_HOST if unreachable. */
export function agentOf(svc: Services, host = svc.hostRef()): HostAgent {
  return svc.hosts.get(host);
}

/** The host a VM runs on (this manager's host when the record names none). */
export function hostOfVm(svc: Services, vm: Row): string {
  return isNull(vm.resident_on) ? svc.hostRef() : String(vm.resident_on);
}

/** The agent of the host a running or paused VM lives on. */
export function agentOfVm(svc: Services, vm: Row): HostAgent {
  return agentOf(svc, hostOfVm(svc, vm));
}

export function suspendImagePath(svc: Services, vmUuid: string): string {
  return `${svc.suspendDir}/${vmUuid}.state`;
}

let nextDomid = 1;
function allocateDomid(db: Database): number {
  for (const row of db.all('VM').values()) nextDomid = Math.max(nextDomid, Number(row.domid) + 1);
  return nextDomid++;
}

const taskOf = (ctx: CallContext) => ctx.task?.ref ?? `OpaqueRef:${randomUUID()}`;

function createConsole(db: Database, vm: string, hostAddress: string) {
  const ref = newRef();
  db.create(
    'console',
    { protocol: 'rfb', location: `https://${hostAddress}/console?ref=${ref}`, VM: vm, other_config: {} },
    ref,
  );
}

function destroyConsoles(db: Database, vm: string) {
  for (const c of [...((db.get('VM', vm)?.consoles as string[]) ?? [])])
    if (db.has('console', c)) db.destroy('console', c);
}

/** The VM's disks (attached VBDs, on `host`'s PBDs) and NICs (VIFs), from storage and network. */
function devices(ctx: CallContext, vm: string, host: string) {
  const { db } = ctx.svc;
  return { disks: vmDisks(db, vm, host), nics: ctx.svc.networking ? vmNics(db, vm) : [] };
}

/**
 * After `host`'s agent started a VM: power state, residence, metrics, console. Called inside the
 * transaction that ends the operation (withVmOperation's andThen), so a start is one commit.
 */
function recordStarted(
  ctx: CallContext,
  vm: string,
  host: string,
  paused: boolean,
  info: { startedAt?: number; vcpus?: number; memoryBytes?: number },
  rec: Row,
) {
  const { db } = ctx.svc;
  db.transaction(() => {
    markStarted(
      db,
      vm,
      paused ? 'Paused' : 'Running',
      {
        host,
        domid: allocateDomid(db),
        vcpus: info.vcpus ?? Number(rec.VCPUs_at_startup),
        memoryBytes: info.memoryBytes ?? Number(rec.memory_dynamic_max),
        startedAt: info.startedAt,
      },
      rec,
    );
    destroyConsoles(db, vm);
    createConsole(db, vm, String(db.get('host', host)?.address ?? 'localhost'));
    setVbdsAttached(db, vm, true);
  });
}

/** A VM that stopped (any reason): Halted, consoles gone. */
export function recordHalted(db: Database, vm: string) {
  db.transaction(() => {
    setPowerState(db, vm, 'Halted');
    destroyConsoles(db, vm);
    setVbdsAttached(db, vm, false);
  });
}

/** Starts the VM on `on`, or on the host placement chooses (vm/placement.ts). */
async function start(ctx: CallContext, vm: string, startPaused: boolean, op = 'start', on?: string) {
  const { db } = ctx.svc;
  let rec: Row | undefined;
  let host = '';
  await withVmOperation(
    db,
    vm,
    op,
    taskOf(ctx),
    async () => {
      // The pool's iallocator, when it names one, chooses instead of xapi's placement (docs/hooks.md).
      host = reserveHost(ctx.svc, vm, on ?? (await allocatorChoice(ctx.svc, vm)));
      try {
        const agent = agentOf(ctx.svc, host);
        rec = db.mustGet('VM', vm);
        void pushArchivedVmRrd(ctx.svc, String(rec.uuid), host); // in the background (stats/hooks.ts)
        return await agent.start(instanceSpec(rec, startPaused, devices(ctx, vm, host)));
      } catch (e) {
        releaseHost(ctx.svc, vm);
        throw e;
      }
    },
    (info) => recordStarted(ctx, vm, host, startPaused, info, rec!),
  );
}

/** Resumes the VM on `on`, or on the host placement chooses; unless forced, its CPU must fit. */
async function resume(
  ctx: CallContext,
  vm: string,
  startPaused: boolean,
  force: boolean,
  op = 'resume',
  on?: string,
) {
  const { db } = ctx.svc;
  await withVmOperation(db, vm, op, taskOf(ctx), async () => {
    const chosen = on ?? (await allocatorChoice(ctx.svc, vm)); // the pool's iallocator (docs/hooks.md)
    const host = reserveHost(ctx.svc, vm, chosen, force ? undefined : cpuCompatError);
    try {
      const agent = agentOf(ctx.svc, host);
      const rec = db.mustGet('VM', vm);
      const file = suspendImagePath(ctx.svc, String(rec.uuid));
      void pushArchivedVmRrd(ctx.svc, String(rec.uuid), host); // in the background (stats/hooks.ts)
      await loadSuspendImage(ctx.svc, vm, file);
      // The same devices as when suspended: QEMU loads their state from the image.
      let info: InstanceInfo;
      try {
        info = await agent.resume(instanceSpec(rec, startPaused, devices(ctx, vm, host)), file);
      } catch (e) {
        if (!isNull(rec.suspend_VDI)) rmSync(file, { force: true }); // the VDI keeps the image
        throw e;
      }
      recordStarted(ctx, vm, host, startPaused, info, rec);
    } finally {
      releaseHost(ctx.svc, vm);
    }
    await discardSuspendImage(ctx.svc, vm, taskOf(ctx));
  });
}

function lifecycleOp(
  op: string,
  action: (agent: HostAgent, uuid: string, ctx: CallContext) => Promise<unknown>,
  after?: (db: Database, vm: string) => void,
) {
  return async (ctx: CallContext, vm: string) => {
    const { db } = ctx.svc;
    await withVmOperation(db, vm, op, taskOf(ctx), async () => {
      const rec = db.mustGet('VM', vm);
      await action(agentOfVm(ctx.svc, rec), String(rec.uuid), ctx);
      after?.(db, vm);
    });
  };
}

function hardShutdown(ctx: CallContext, vm: string) {
  const { db } = ctx.svc;
  const rec = db.mustGet('VM', vm);
  if (rec.power_state === 'Suspended') {
    // Discards the suspend image: nothing runs, only the record changes.
    return withVmOperation(db, vm, 'hard_shutdown', taskOf(ctx), async () => {
      rmSync(suspendImagePath(ctx.svc, String(rec.uuid)), { force: true });
      await discardSuspendImage(ctx.svc, vm, taskOf(ctx));
      recordHalted(db, vm);
    });
  }
  return lifecycleOp('hard_shutdown', (a, uuid) => a.shutdown(uuid, false, 10_000), recordHalted)(ctx, vm);
}

function destroyVm(db: Database, vm: string) {
  const rec = db.mustGet('VM', vm);
  db.transaction(() => {
    for (const vbd of [...(rec.VBDs as string[])]) if (db.has('VBD', vbd)) db.destroy('VBD', vbd);
    for (const vif of [...(rec.VIFs as string[])]) {
      const metrics = String(db.get('VIF', vif)?.metrics ?? NULL_REF);
      if (db.has('VIF_metrics', metrics)) db.destroy('VIF_metrics', metrics);
      if (db.has('VIF', vif)) db.destroy('VIF', vif);
    }
    destroyConsoles(db, vm);
    for (const m of [String(rec.metrics)]) if (db.has('VM_metrics', m)) db.destroy('VM_metrics', m);
    if (rec.guest_metrics !== NULL_REF && db.has('VM_guest_metrics', String(rec.guest_metrics))) {
      db.destroy('VM_guest_metrics', String(rec.guest_metrics));
    }
    db.destroy('VM', vm);
  });
}

/**
 * other_config of a VM copy, as xapi's Xapi_vm_clone.copy_vm_record: a clone or copy gets a fresh
 * mac_seed (its VIFs get new MACs from it), a snapshot keeps the source's; the default-template
 * markers are dropped, and a copy of a template remembers the template's name.
 */
function copiedOtherConfig(src: Row, snapshot: boolean): Record<string, string> {
  const other = { ...((src.other_config as Record<string, string>) ?? {}) };
  if (!snapshot) other.mac_seed = randomUUID();
  delete other.default_template;
  delete other.xensource_internal;
  if (src.is_a_template && !('base_template_name' in other))
    other.base_template_name = String(src.name_label);
  return other;
}

/**
 * A new VM copied from `src`, with its disks cloned, snapshotted or copied (storage layer). All or
 * nothing: a failure removes what was made, and a process death is rolled back at the next
 * start from the copy journal (see vm/copy-journal.ts).
 */
export async function copyVm(
  ctx: CallContext,
  src: string,
  mode: DiskCopyMode,
  overrides: Record<string, unknown>,
  sr?: string,
  skipVdis: string[] = [],
  live: { memoryPath?: string; onLive?: (l: LiveSnapshot) => void } = {},
): Promise<string> {
  const { db } = ctx.svc;
  const rec = db.mustGet('VM', src);
  const uuid = randomUUID();
  const make = async () => {
    const ref = db.transaction(() => {
      const fields = copyVmFields(rec, { metrics: newVmMetrics(db), ...overrides, uuid });
      fields.other_config = copiedOtherConfig(rec, mode === 'snapshot');
      const created = db.create('VM', fields);
      copyVifs(db, src, created, mode === 'snapshot');
      refreshAllowedOperations(db, created);
      return created;
    });
    try {
      if (ctx.svc.storageDrivers)
        await copyVmDisks(
          ctx.svc,
          src,
          ref,
          mode,
          { sr, task: taskOf(ctx), skipVdis, memoryPath: live.memoryPath },
          live.onLive,
        );
    } catch (e) {
      destroyVm(db, ref);
      throw e;
    }
    return ref;
  };
  const journal = ctx.svc.vmCopyJournal;
  return journal ? journal.run(uuid, make) : make();
}

/**
 * Start-up: destroys the VMs of copies/clones/snapshots a previous run did not finish, with the
 * disk copies they already had (their CDs are shared media and stay).
 */
export async function rollBackUnfinishedCopies(svc: Services): Promise<string[]> {
  const journal = svc.vmCopyJournal;
  if (!journal) return [];
  const { db } = svc;
  return journal.recover(async (vmUuid) => {
    const vm = db.refByUuid('VM', vmUuid);
    if (!vm || !db.has('VM', vm)) return;
    const task = `OpaqueRef:${randomUUID()}`;
    for (const vbd of [...(db.get('VM', vm)!.VBDs as string[])]) {
      const b = db.get('VBD', vbd);
      if (!b || b.type === 'CD' || isNull(b.VDI) || !db.has('VDI', String(b.VDI))) continue;
      db.update('VBD', vbd, { currently_attached: false });
      await destroyVdi(svc, String(b.VDI), task);
    }
    destroyVm(db, vm);
  });
}

export const vmApi: HandlerTable = {
  handlers: {
    'VM.create': (ctx, rec) => {
      const { db } = ctx.svc;
      const fields = createRecord(db, db.classSpec('VM'), rec);
      return db.transaction(() => {
        const other = { ...((fields.other_config as object) ?? {}) } as Record<string, string>;
        if (!other.mac_seed) other.mac_seed = randomUUID();
        const ref = db.create('VM', {
          ...fields,
          power_state: 'Halted',
          other_config: other,
          domid: -1,
          metrics: newVmMetrics(db),
          blocked_operations: fields.blocked_operations ?? {},
        });
        refreshAllowedOperations(db, ref);
        return ref;
      });
    },
    'VM.destroy': async (ctx, vm) => {
      const { db } = ctx.svc;
      await withVmOperation(db, vm, 'destroy', taskOf(ctx), async () => undefined);
      destroyVm(db, vm);
    },
    'VM.start': (ctx, vm, paused, force) => {
      checkStartUnlessForced(ctx, vm, 'start', force);
      return start(ctx, vm, paused);
    },
    'VM.start_on': (ctx, vm, host, paused, force) => {
      ctx.svc.db.mustGet('host', host);
      checkStartUnlessForced(ctx, vm, 'start_on', force);
      return start(ctx, vm, paused, 'start_on', host);
    },
    'VM.clean_shutdown': lifecycleOp(
      'clean_shutdown',
      (a, uuid) => a.shutdown(uuid, true, CLEAN_SHUTDOWN_TIMEOUT_MS),
      recordHalted,
    ),
    'VM.shutdown': lifecycleOp(
      'shutdown',
      (a, uuid) => a.shutdown(uuid, true, CLEAN_SHUTDOWN_TIMEOUT_MS),
      recordHalted,
    ),
    'VM.hard_shutdown': (ctx, vm) => hardShutdown(ctx, vm),
    'VM.clean_reboot': lifecycleOp('clean_reboot', (a, uuid) =>
      a.reboot(uuid, true, CLEAN_SHUTDOWN_TIMEOUT_MS),
    ),
    'VM.hard_reboot': lifecycleOp(
      'hard_reboot',
      (a, uuid) => a.reboot(uuid, false, 10_000),
      (db, vm) => setPowerState(db, vm, 'Running'),
    ),
    'VM.pause': lifecycleOp(
      'pause',
      (a, uuid) => a.pause(uuid),
      (db, vm) => setPowerState(db, vm, 'Paused'),
    ),
    'VM.unpause': lifecycleOp(
      'unpause',
      (a, uuid) => a.unpause(uuid),
      (db, vm) => setPowerState(db, vm, 'Running'),
    ),
    'VM.suspend': lifecycleOp(
      'suspend',
      async (a, uuid, ctx) => {
        await a.suspend(uuid, suspendImagePath(ctx.svc, uuid));
        const vm = String(ctx.svc.db.refByUuid('VM', uuid));
        await storeSuspendImage(ctx.svc, vm, suspendImagePath(ctx.svc, uuid));
      },
      (db, vm) =>
        db.transaction(() => {
          setPowerState(db, vm, 'Suspended');
          destroyConsoles(db, vm);
        }),
    ),
    'VM.resume': (ctx, vm, paused, force) => resume(ctx, vm, paused, force),
    'VM.resume_on': (ctx, vm, host, paused, force) => {
      ctx.svc.db.mustGet('host', host);
      checkResumeUnlessForced(ctx, vm, host, 'resume_on', force);
      return resume(ctx, vm, paused, force, 'resume_on', host);
    },
    'VM.power_state_reset': (ctx, vm) => {
      const rec = ctx.svc.db.mustGet('VM', vm);
      if (rec.is_control_domain)
        throw new XenApiError('OPERATION_NOT_ALLOWED', ['This operation is not allowed on a control domain']);
      recordHalted(ctx.svc.db, vm);
    },
    // The memory and vCPU setters, set_is_a_template and set_blocked_operations: api/setters.ts.
    'VM.assert_operation_valid': (ctx, vm, op) => assertOperationValid(vm, ctx.svc.db.mustGet('VM', vm), op),
    'VM.update_allowed_operations': (ctx, vm) => {
      ctx.svc.db.mustGet('VM', vm);
      refreshAllowedOperations(ctx.svc.db, vm);
    },
    'VM.get_allowed_VBD_devices': (ctx, vm) => {
      const used = new Set(
        (ctx.svc.db.mustGet('VM', vm).VBDs as string[]).map((v) =>
          String(ctx.svc.db.get('VBD', v)?.userdevice),
        ),
      );
      return Array.from({ length: 16 }, (_, i) => String(i)).filter((d) => !used.has(d));
    },
    'VM.get_allowed_VIF_devices': (ctx, vm) => {
      const used = new Set(
        (ctx.svc.db.mustGet('VM', vm).VIFs as string[]).map((v) => String(ctx.svc.db.get('VIF', v)?.device)),
      );
      return Array.from({ length: 7 }, (_, i) => String(i)).filter((d) => !used.has(d));
    },
    // VM.compute_memory_overhead, get_possible_hosts, assert_can_boot_here: api/placement.ts.
    'VM.clone': async (ctx, vm, newName) => {
      const { db } = ctx.svc;
      return withVmOperation(db, vm, 'clone', taskOf(ctx), async () =>
        copyVm(ctx, vm, 'clone', {
          name_label: newName,
          is_a_template: db.mustGet('VM', vm).is_a_template,
          is_a_snapshot: false,
          snapshot_of: NULL_REF,
        }),
      );
    },
    'VM.copy': async (ctx, vm, newName, sr) => {
      const { db } = ctx.svc;
      if (sr !== NULL_REF && sr !== '') db.mustGet('SR', sr);
      return withVmOperation(db, vm, 'copy', taskOf(ctx), async () =>
        copyVm(
          ctx,
          vm,
          'copy',
          {
            name_label: newName,
            is_a_template: db.mustGet('VM', vm).is_a_template,
            is_a_snapshot: false,
            snapshot_of: NULL_REF,
          },
          sr !== NULL_REF && sr !== '' ? sr : undefined,
        ),
      );
    },
    'VM.snapshot': async (ctx, vm, newName, ignoreVdis) => {
      const { db } = ctx.svc;
      return withVmOperation(db, vm, 'snapshot', taskOf(ctx), async () => {
        const state = String(db.mustGet('VM', vm).power_state);
        let live: LiveSnapshot | undefined;
        const snap = await copyVm(
          ctx,
          vm,
          'snapshot',
          snapshotOverrides(vm, newName, state),
          undefined,
          ignoreVdis,
          { onLive: (l) => (live = l) },
        );
        if (live) recordLiveTiming(db, snap, live);
        return snap;
      });
    },
    'VM.provision': async (ctx, vm) => {
      const { db } = ctx.svc;
      await withVmOperation(db, vm, 'provision', taskOf(ctx), async () => {
        // A template naming an OS definition (berth-os): checked on the host before anything is
        // made, installed on the new disks after (vm/os-install.ts); a failure undoes it all.
        const before = provisionBefore(db, vm);
        const host = ctx.svc.hostRef();
        const named = osFromOtherConfig(before.other_config)
          ? await validateTemplateOs(agentOf(ctx.svc, host), before.other_config)
          : undefined;
        // As xapi: provisioning turns the template into a VM, then creates the disks its
        // other_config "disks" describes (storage layer).
        db.update('VM', vm, { is_a_template: false, is_default_template: false });
        await ctx.svc.provisionDisks?.(ctx, vm);
        if (!named) return;
        try {
          await installOs(ctx, agentOf(ctx.svc, host), vm, host, named);
        } catch (e) {
          await undoProvision(ctx, vm, before);
          throw e;
        }
      });
    },
  },
};
