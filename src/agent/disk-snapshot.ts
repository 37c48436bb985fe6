// The agent's `instance_snapshot_disks` (src/shared/noded/disk-snapshot.ts): a live snapshot of
// disks of a running VM. Each SR driver prepares an overlay over the disk's current image
// (file-live-snapshot.ts), QEMU moves onto all of them in one transaction (instances.ts →
// vm-process.ts → qemu/live-snapshot.ts), then the drivers commit the snapshot volumes; if
// QEMU did not move, every driver undoes its preparation.
import { XenApiError } from '../shared/errors.js';
import { logger } from '../shared/log.js';
import type {
  DiskSnapshotOptions,
  DiskSnapshotRequest,
  DiskSnapshotResult,
} from '../shared/noded/disk-snapshot.js';
import type { InstanceManager } from './instances.js';
import type { LiveCbtCarry } from './qemu/live-snapshot.js';
import { checkDeviceName } from './qemu/spec-check.js';
import { DisksMovedError } from './qemu/vm-process.js';
import { driverFor } from './storage/procedures.js';
import { srConfig, str, strings } from './storage/rpc.js';
import type { DriverContext, PreparedSnapshot } from './storage/types.js';

const log = logger('snapshot');

const bad = (name: string, v: unknown) =>
  new XenApiError('INVALID_VALUE', [name, JSON.stringify(v) ?? 'undefined']);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A generation is a uuid: it becomes part of a bitmap name QEMU stores in the image. */
function generationArg(name: string, v: unknown): string {
  const s = str(name, v);
  if (!UUID.test(s)) throw bad(name, s);
  return s;
}

function cbtCarryArg(name: string, v: unknown): LiveCbtCarry {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(name, v);
  const o = v as Record<string, unknown>;
  return {
    keep: strings(`${name}.keep`, o.keep).map((g) => generationArg(`${name}.keep`, g)),
    generation: generationArg(`${name}.generation`, o.generation),
  };
}

/** Checks the RPC arguments (a trust boundary) and copies them onto fresh objects. */
export function diskSnapshotArgs(
  disks: unknown,
  opts: unknown,
): { requests: DiskSnapshotRequest[]; options: DiskSnapshotOptions } {
  if (!Array.isArray(disks)) throw bad('disks', disks);
  const requests = disks.map((d, i): DiskSnapshotRequest => {
    if (typeof d !== 'object' || d === null) throw bad(`disks[${i}]`, d);
    const r = d as Record<string, unknown>;
    const device = str(`disks[${i}].device`, r.device);
    checkDeviceName('disk device', device);
    return {
      device,
      sr: srConfig(`disks[${i}].sr`, r.sr),
      location: str(`disks[${i}].location`, r.location),
      newUuid: str(`disks[${i}].newUuid`, r.newUuid),
      ...(r.cbt === undefined ? {} : { cbt: cbtCarryArg(`disks[${i}].cbt`, r.cbt) }),
    };
  });
  const devices = requests.map((r) => r.device);
  if (new Set(devices).size !== devices.length) throw bad('disks', devices);
  const o = (opts ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object') throw bad('options', opts);
  const options: DiskSnapshotOptions =
    o.memoryPath === undefined ? {} : { memoryPath: str('options.memoryPath', o.memoryPath) };
  // Only a checkpoint of a diskless VM has no disk to snapshot.
  if (requests.length === 0 && options.memoryPath === undefined) throw bad('disks', disks);
  return { requests, options };
}

export async function snapshotDisks(
  vms: InstanceManager,
  ctx: DriverContext,
  uuid: string,
  requests: DiskSnapshotRequest[],
  options: DiskSnapshotOptions,
): Promise<DiskSnapshotResult> {
  const prepared: PreparedSnapshot[] = [];
  let timing: { transactionMs: number; vcpuPauseMs: number };
  try {
    for (const r of requests) {
      const driver = driverFor(r.sr.type);
      // Raw volumes (lvm) have no overlay for QEMU to move onto.
      if (!driver.liveSnapshot) throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [r.sr.uuid]);
      prepared.push(await driver.liveSnapshot(r.sr, r.location, r.newUuid, ctx));
    }
    timing = await vms.snapshotDisks(
      uuid,
      requests.map((r, i) => ({
        device: r.device,
        path: prepared[i].overlay,
        leaf: prepared[i].leaf,
        frozen: prepared[i].frozen,
        ...(r.cbt ? { cbt: r.cbt } : {}),
      })),
      options.memoryPath,
    );
  } catch (e) {
    if (e instanceof DisksMovedError) {
      // QEMU writes the overlays now: they become the leaves; the snapshots are not kept.
      for (const [i, p] of prepared.entries()) {
        await p.commit();
        await driverFor(requests[i].sr.type)
          .vdiDestroy(requests[i].sr, requests[i].newUuid, ctx)
          .catch((err) => log.warn('could not remove a snapshot volume', { error: String(err) }));
      }
      throw e.failure;
    }
    for (const p of prepared.reverse())
      await p.abort().catch((err) => log.warn('could not undo a live snapshot', { error: String(err) }));
    throw e;
  }
  const volumes = [];
  for (const p of prepared) volumes.push(await p.commit());
  log.info('live snapshot', {
    uuid,
    disks: requests.length,
    transactionMs: Math.round(timing.transactionMs * 1000) / 1000,
    vcpuPauseMs: Math.round(timing.vcpuPauseMs),
  });
  return { volumes, ...timing };
}
