// Storage migration (issue 15 item 2): host.migrate_receive, VM.assert_can_migrate,
// VM.migrate_send and VDI.pool_migrate, as xapi's xapi_vm_migrate.ml / xapi_host.ml. The checks
// and the choice of disks are pure (vm/storage-migrate-plan.ts); the volumes and the database
// switch are vm/storage-migrate-run.ts; the guest's move is migrateVm (vm/migrate.ts) with the
// moved disks mirrored. Within one pool only: a dest map naming a host of another pool is refused
// (docs/storage-migration.md).
import { randomUUID } from 'node:crypto';
import { XenApiError } from '../../shared/errors.js';
import type { Database, Row } from '../db/database.js';
import { attachedSr, driverInfoOf } from '../storage/records.js';
import { copyVdi } from '../storage/vdi-ops.js';
import { vbdDevice, vmDisks } from '../storage/vm-disks.js';
import { masterOf, poolView } from '../vm/reservation.js';
import {
  buildDest,
  checkVgpuMap,
  type DiskMove,
  parseDest,
  type PlanView,
  planIntraPool,
  poolMigrateHost,
  poolMigrateMap,
  type StoragePlan,
} from '../vm/storage-migrate-plan.js';
import { createDestinationVdis, destroyVdis, switchToNewVdis } from '../vm/storage-migrate-run.js';
import { assertCanPoolMigrate, migrateFailed, migrateVm, parseMigrateOptions } from '../vm/migrate.js';
import { withVmOperation } from '../vm/vm-state.js';
import type { CallContext, HandlerTable, Services } from './context.js';

const taskOf = (ctx: CallContext) => ctx.task?.ref ?? `OpaqueRef:${randomUUID()}`;

function planView(svc: Services): PlanView {
  return {
    ...poolView(svc),
    capabilities: (type) => driverInfoOf(svc, type)?.capabilities ?? [],
    deviceOf: vbdDevice,
  };
}

/**
 * The destination host of a dest map, which must be in this pool. A host of another pool: Berth
 * does not migrate between pools yet (VM_MIGRATE_FAILED says so, as xapi's error for a migration
 * the destination cannot take).
 */
function destHost(db: Database, vm: string, dest: Record<string, string>): string {
  const d = parseDest(dest);
  if (!db.has('host', d.host)) {
    const rec = db.mustGet('VM', vm);
    throw migrateFailed(
      rec,
      db.get('host', String(rec.resident_on)),
      undefined,
      'the destination host is not in this pool: cross-pool migration is not supported by Berth yet',
    );
  }
  return d.host;
}

function plan(
  ctx: CallContext,
  vm: string,
  dest: Record<string, string>,
  vdiMap: Record<string, string>,
  vifMap: Record<string, string>,
  options: Record<string, string>,
  assertOnly: boolean,
): { dst: string; plan: StoragePlan } {
  const { db } = ctx.svc;
  db.mustGet('VM', vm);
  const dst = destHost(db, vm, dest);
  return {
    dst,
    plan: planIntraPool(planView(ctx.svc), { vm, dstHost: dst, vdiMap, vifMap, options, assertOnly }),
  };
}

/** The new volume of a moved disk as the VM's host opens it. */
function targetOf(svc: Services, vm: string, host: string, m: DiskMove, remap: Map<string, string>) {
  const disk = vmDisks(svc.db, vm, host, remap).find((d) => d.device === m.device);
  if (!disk) throw new XenApiError('VDI_MISSING', [m.to, remap.get(m.vdi) ?? m.vdi]);
  return { path: disk.path, format: disk.format };
}

/** The VBDs of the moved disks on their new VDIs (xapi's intra_pool_vdi_remap), in one transaction. */
function repointVbds(db: Database, moves: DiskMove[], remap: Map<string, string>) {
  for (const m of moves) {
    const to = remap.get(m.vdi);
    if (to && db.has('VBD', m.vbd)) db.update('VBD', m.vbd, { VDI: to });
  }
}

/**
 * The guest stays on its host and each moved disk is mirrored by its own QEMU into the new volume
 * (instance_disk_mirror), switched over one by one, under the VM's migrate_send operation.
 */
async function mirrorInPlace(ctx: CallContext, vm: string, host: string, p: StoragePlan): Promise<void> {
  const { svc } = ctx;
  const task = taskOf(ctx);
  await withVmOperation(svc.db, vm, 'migrate_send', task, async () => {
    const remap = await createDestinationVdis(svc, p.moves, task);
    const uuid = String(svc.db.mustGet('VM', vm).uuid);
    const agent = svc.hosts.get(host);
    for (const [i, m] of p.moves.entries()) {
      const to = remap.get(m.vdi)!;
      try {
        ctx.task?.checkCancelled();
        await agent.migration.instance_disk_mirror(uuid, m.device, targetOf(svc, vm, host, m, remap));
      } catch (e) {
        await destroyVdis(svc, [...remap.values()], task);
        throw e;
      }
      // The guest writes to the new volume from now on: this disk is switched at once.
      remap.delete(m.vdi);
      await switchToNewVdis(svc, [m], new Map([[m.vdi, to]]), task);
      ctx.task?.setProgress((i + 1) / p.moves.length);
    }
  });
}

/**
 * Runs a plan: the disks' new volumes, then the move (the guest's own mirror of each disk when it
 * stays on its host; otherwise migrateVm with those disks mirrored to the destination and the
 * VBDs re-pointed in its switch-over), then the old VDIs and volumes go. On failure the new
 * volumes go and nothing else changes.
 */
async function execute(
  ctx: CallContext,
  vm: string,
  dst: string,
  p: StoragePlan,
  live: boolean,
  options: Record<string, string>,
): Promise<void> {
  const { svc } = ctx;
  if (p.sameHost) return mirrorInPlace(ctx, vm, dst, p);
  const parsed = parseMigrateOptions(options);
  const check = { force: parsed.force, operation: 'migrate_send' as const, checks: 'caller' as const };
  assertCanPoolMigrate(svc, vm, dst, check); // before any volume is made
  const task = taskOf(ctx);
  const remap = await createDestinationVdis(svc, p.moves, task);
  try {
    await migrateVm(svc, ctx.task, vm, dst, {
      ...parsed,
      ...check,
      live: live && parsed.live,
      mirror: p.moves.map((m) => ({ device: m.device })),
      disks: vmDisks(svc.db, vm, dst, remap),
      onSwitchOver: () => repointVbds(svc.db, p.moves, remap),
    });
  } catch (e) {
    await destroyVdis(svc, [...remap.values()], task);
    throw e;
  }
  await switchToNewVdis(svc, p.moves, remap, task);
}

/** VDI.pool_migrate of a halted VM's disk: a full copy into the SR, then the same switch. */
async function moveHaltedVdi(ctx: CallContext, vdi: string, sr: string, vm: string): Promise<string> {
  const { svc } = ctx;
  const task = taskOf(ctx);
  const copy = await copyVdi(svc, vdi, sr, task);
  const vbds = ((svc.db.get('VDI', vdi)?.VBDs as string[]) ?? []).filter(
    (b) => String(svc.db.get('VBD', b)?.VM) === vm,
  );
  const moves = vbds.map((vbd) => ({ vbd, vdi, device: '', from: '', to: sr, virtualSize: 0, mirror: true }));
  await switchToNewVdis(svc, moves, new Map([[vdi, copy]]), task);
  return copy;
}

export const vmStorageMigrateApi: HandlerTable = {
  handlers: {
    'host.migrate_receive': (ctx, host, network, _options) => {
      const { db } = ctx.svc;
      const h = db.mustGet('host', host);
      const net = db.mustGet('network', network);
      // The address the source reaches the destination on: the host's PIF on that network.
      let address = String(h.address ?? '');
      const pifs = ((net.PIFs as string[]) ?? []).map((p) => db.get('PIF', p)).filter((p): p is Row => !!p);
      if (pifs.length) {
        const pif = pifs.find((p) => p.host === host);
        if (!pif) throw new XenApiError('HOST_CANNOT_ATTACH_NETWORK', [host, network]);
        if (pif.IP) address = String(pif.IP);
      }
      if (!address) throw new XenApiError('HOST_HAS_NO_MANAGEMENT_IP', []);
      const master = db.get('host', masterOf(ctx.svc));
      const session = ctx.svc.sessions.loginAs(ctx.session, 'host.migrate_receive');
      return buildDest({
        host,
        hostAddress: address,
        session,
        masterAddress: String(master?.address || address),
      });
    },
    'VM.assert_can_migrate': (ctx, vm, dest, _live, vdiMap, vifMap, options, vgpuMap) => {
      checkVgpuMap(vgpuMap);
      const { dst, plan: p } = plan(ctx, vm, dest, vdiMap, vifMap, options, true);
      // Then what migrateVm would check (the operation, the CPU unless forced, the source).
      if (!p.sameHost)
        assertCanPoolMigrate(ctx.svc, vm, dst, {
          force: parseMigrateOptions(options).force,
          operation: 'migrate_send',
          checks: 'caller',
        });
    },
    // vdi_format_map (the destination image format per VDI) is accepted and not used: Berth keeps
    // each volume's SR format (docs/storage-migration.md).
    'VM.migrate_send': async (ctx, vm, dest, live, vdiMap, vifMap, options, vgpuMap, _vdiFormatMap) => {
      checkVgpuMap(vgpuMap);
      const { dst, plan: p } = plan(ctx, vm, dest, vdiMap, vifMap, options, false);
      await execute(ctx, vm, dst, p, live, options);
      return vm;
    },
    'VDI.pool_migrate': async (ctx, vdi, sr, _options) => {
      const { db } = ctx.svc;
      const { vm, vdiMap } = poolMigrateMap(db, vdi, sr);
      if (db.mustGet('VM', vm).power_state === 'Halted') {
        attachedSr(ctx.svc, sr);
        let copy = vdi;
        await withVmOperation(db, vm, 'migrate_send', taskOf(ctx), async () => {
          copy = await moveHaltedVdi(ctx, vdi, sr, vm);
        });
        return copy;
      }
      if (String(db.mustGet('VDI', vdi).SR) === sr) return vdi; // already there: nothing moves
      const view = planView(ctx.svc);
      const dst = poolMigrateHost(view, vm, vdiMap);
      const p = planIntraPool(view, { vm, dstHost: dst, vdiMap, vifMap: {}, options: {}, assertOnly: false });
      await execute(ctx, vm, dst, p, true, {});
      const vbd = p.moves.find((m) => m.vdi === vdi)?.vbd;
      return vbd ? String(db.mustGet('VBD', vbd).VDI) : vdi;
    },
  },
};
