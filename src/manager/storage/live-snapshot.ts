// Snapshots of disks a running VM writes (VM.snapshot, VDI.snapshot, VM.checkpoint of a running
// VM): one call to the agent of the VM's host (instance_snapshot_disks) snapshots every disk at
// the same instant through QEMU's block layer; the running VDIs keep their uuid and location, the
// snapshot VDIs get the frozen content, as offline snapshots do (vdi-ops.ts cloneVdi).
//
// Wiring for other slices: `liveHolder` says whether a VDI needs this path; `liveSnapshotVdis`
// does it. A CBT-enabled disk's bitmaps are carried onto the new overlay by the agent around
// its QMP transaction (liveCbtCarry → cbt-live.ts); the snapshot's image then gets frozen
// copies (carryCbt with sourceLive), so list_changed_blocks works between live snapshots.
import { randomUUID } from 'node:crypto';
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { DiskSnapshotRequest } from '../../shared/noded/disk-snapshot.js';
import type { Row } from '../db/database.js';
import type { Services } from '../api/context.js';
import { carryCbt, liveCbtCarry } from './cbt.js';
import { withIntent } from './intents.js';
import { attachedVbds, driverInfoOf, isNull, srConfig, withVdiOperation } from './records.js';
import { assertCapability, cloneFields, recordNewVolume } from './vdi-ops.js';
import { vbdDevice } from './vm-disks.js';

const log = logger('storage');

/** The running (or paused) VM holding `vdi` read-write, with its VBD; undefined if none. */
export function liveHolder(svc: Services, vdi: string): { vm: string; vbd: string } | undefined {
  const { db } = svc;
  for (const vbd of attachedVbds(db, vdi)) {
    const b = db.get('VBD', vbd);
    if (b?.mode !== 'RW') continue;
    const vm = db.get('VM', String(b.VM));
    if (vm && (vm.power_state === 'Running' || vm.power_state === 'Paused')) return { vm: String(b.VM), vbd };
  }
  return undefined;
}

export interface LiveSnapshot {
  /** VDI → its new snapshot VDI. */
  snapshots: Map<string, string>;
  transactionMs: number;
  vcpuPauseMs: number;
}

/** Runs `fn` inside `wrap` applied once per item, nested (every item's bracket around it). */
function nest<T>(
  items: readonly string[],
  wrap: (item: string, inner: () => Promise<T>) => Promise<T>,
  fn: () => Promise<T>,
): Promise<T> {
  return items.reduceRight<() => Promise<T>>((inner, item) => () => wrap(item, inner), fn)();
}

/**
 * Snapshots `vdis` (disks VM `vm` holds RW) at one instant; with `memoryPath`, also saves the
 * VM's memory there (checkpoint). SR_OPERATION_NOT_SUPPORTED for an SR whose driver cannot
 * (raw LVM volumes).
 */
export async function liveSnapshotVdis(
  svc: Services,
  vm: string,
  vdis: string[],
  task: string,
  opts: { memoryPath?: string } = {},
): Promise<LiveSnapshot> {
  const { db } = svc;
  const vmRow = db.mustGet('VM', vm);
  const host = isNull(vmRow.resident_on) ? svc.hostRef() : String(vmRow.resident_on);
  const plan: { vdi: string; row: Row; sr: string; req: DiskSnapshotRequest }[] = [];
  for (const vdi of vdis) {
    const row = db.mustGet('VDI', vdi);
    const sr = String(row.SR);
    const srRow = db.mustGet('SR', sr);
    assertCapability(svc, sr, 'VDI_SNAPSHOT');
    if (!driverInfoOf(svc, String(srRow.type))?.liveSnapshot)
      throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr]);
    const holder = liveHolder(svc, vdi);
    if (!holder || holder.vm !== vm) throw new XenApiError('VDI_IN_USE', [vdi, 'snapshot']);
    // The SR as the VM's host sees it: QEMU and the overlay must be on the same host.
    const pbd = (srRow.PBDs as string[]).map((p) => db.get('PBD', p)).find((p) => p?.host === host);
    if (!pbd?.currently_attached) throw new XenApiError('SR_NOT_ATTACHED', [sr]);
    const newUuid = randomUUID();
    const cbt = liveCbtCarry(db, vdi, newUuid);
    plan.push({
      vdi,
      row,
      sr,
      req: {
        device: vbdDevice(db.mustGet('VBD', holder.vbd)),
        sr: srConfig(srRow, pbd),
        location: String(row.location),
        newUuid,
        ...(cbt ? { cbt } : {}),
      },
    });
  }
  const agent = svc.hosts.get(host);
  if (!agent.snapshotDisks) throw new XenApiError('VDI_IN_USE', [vdis[0] ?? vm, 'snapshot']);
  const snapshot = agent.snapshotDisks.bind(agent);
  const run = async (): Promise<LiveSnapshot> => {
    const res = await snapshot(
      String(vmRow.uuid),
      plan.map((p) => p.req),
      opts.memoryPath === undefined ? {} : { memoryPath: opts.memoryPath },
    );
    const snapshots = new Map<string, string>();
    for (const [i, p] of plan.entries()) {
      // QEMU froze the kept bitmaps on the old layer (now the snapshot's base): copy them in.
      if (p.req.cbt)
        await carryCbt(svc, p.vdi, 'snapshot', p.req.newUuid, res.volumes[i].location, { sourceLive: true });
      const fields = cloneFields(p.row, p.vdi, 'snapshot', p.req.newUuid);
      snapshots.set(p.vdi, await recordNewVolume(svc, p.sr, p.req.sr, res.volumes[i], fields));
    }
    log.info('live snapshot', {
      vm: vmRow.uuid,
      disks: plan.length,
      transactionMs: res.transactionMs,
      vcpuPauseMs: res.vcpuPauseMs,
    });
    return { snapshots, transactionMs: res.transactionMs, vcpuPauseMs: res.vcpuPauseMs };
  };
  const byVdi = new Map(plan.map((p) => [p.vdi, p]));
  // Every VDI marked `snapshot` and every new volume under an intent for the whole call.
  return nest(
    plan.map((p) => p.vdi),
    (vdi, inner) =>
      withVdiOperation(svc, vdi, 'snapshot', task, () => {
        const p = byVdi.get(vdi)!;
        return withIntent(
          svc,
          { kind: 'create', srUuid: p.req.sr.uuid, location: p.req.newUuid, vdiUuid: p.req.newUuid },
          inner,
        );
      }),
    run,
  );
}
