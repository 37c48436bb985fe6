// One disk of a running VM moves to another volume on this host (instance_disk_mirror, for
// VDI.pool_migrate within a host), as libvirt's blockcopy --pivot does:
//   1. the target (an existing, empty volume of the disk's size) is labelled for the VM's QEMU
//      user (qemu/dac.ts), opened in QEMU (`blockdev-add` of its protocol + format node), and a
//      `blockdev-mirror sync=full` job copies the disk into it while the guest runs;
//   2. once the job is ready (in sync, mirroring every new write), `job-complete` pivots: the
//      disk's drive uses the target from then on and QEMU closes the old image;
//   3. the VM's saved spec names the new path (adoption after an agent restart, clean reboots),
//      and the old image gets its previous owner back.
// The VM's operation queue is held for steps 1 and 3 only: while the copy runs, other operations
// (a shutdown) are not kept waiting. On any failure the job is cancelled, the target node closed
// and its label undone: the guest stays on its old image.
import { XenApiError } from '../../shared/errors.js';
import type { InstanceManager } from '../instances.js';
import { qemuOwner } from '../instances.js';
import { grantImageAccess, relabelAfterMirror, rememberLabel, restoreLabel } from '../qemu/dac.js';
import { makeDevNode } from '../qemu/fdpass.js';
import { type BlockInfo, isDiskOf, topNodes } from '../qemu/live-snapshot.js';
import { inOwnMountNs, sleep } from '../qemu/proc.js';
import type { QemuVm } from '../qemu/vm-process.js';
import { type JobInfo, type MirrorQmp, waitMirrorsReady } from './mirror.js';

export interface DiskMirrorTarget {
  path: string;
  format: 'qcow2' | 'raw';
}

/** Job ids of disk mirrors within a host (not counted as a migration's mirrors). */
export const DISK_MIRROR_PREFIX = 'berth-dmirror-';
const jobId = (device: string) => `${DISK_MIRROR_PREFIX}${device}`;
/** Label key of a target while it is being mirrored into (labels.json). */
const stagedLabel = (device: string) => `${device}@mirror`;

let seq = Date.now();
/** Node name of a mirror target: unique in the QEMU (≤ 31 chars; pure apart from the counter). */
function targetNodeName(device: string): string {
  return `dm${(seq++).toString(36)}-${device}`.slice(0, 31);
}

/** blockdev-add of the target image: same caching and discard as a boot-time disk (pure). */
export function targetAddCommand(node: string, target: DiskMirrorTarget): Record<string, unknown> {
  return {
    'node-name': node,
    driver: target.format,
    discard: 'unmap',
    // sync=full copies every byte: a backing file the volume may name is not needed.
    ...(target.format === 'qcow2' ? { backing: null } : {}),
    file: { driver: target.path.startsWith('/dev/') ? 'host_device' : 'file', filename: target.path },
  };
}

/** Polls `query-jobs` until job `id` concluded; returns its error, if any. */
async function waitConcluded(qmp: MirrorQmp, id: string, timeoutMs = 120_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = (await qmp.command<JobInfo[]>('query-jobs')).find((x) => x.id === id);
    if (!j) return undefined; // dismissed: nothing more to say
    if (j.status === 'concluded' || j.status === 'null') return j.error;
    if (Date.now() > deadline) return `job ${id} did not end (${j.status})`;
    await sleep(50);
  }
}

const failed = (device: string, e: unknown) =>
  e instanceof XenApiError
    ? e
    : new XenApiError('INTERNAL_ERROR', [
        `disk mirror of ${device}: ${e instanceof Error ? e.message : String(e)}`,
      ]);

/** Undoes a mirror that did not pivot: the job, the target node, the target's label. */
async function abandon(vm: QemuVm, qmp: MirrorQmp, device: string, node: string | undefined) {
  const id = jobId(device);
  await qmp.command('block-job-cancel', { device: id, force: true }).catch(() => undefined);
  await waitConcluded(qmp, id, 30_000).catch(() => undefined);
  await qmp.command('job-dismiss', { id }).catch(() => undefined);
  if (node) await qmp.command('blockdev-del', { 'node-name': node }).catch(() => undefined);
  restoreLabel(vm.paths.dir, stagedLabel(device));
}

/** The file a disk's drive reads now (its top node's image), from `query-block` (pure). */
export function activeFile(blocks: readonly BlockInfo[], device: string): string | undefined {
  return blocks.find((b) => isDiskOf(b, device))?.inserted?.file;
}

/**
 * Mirrors disk `device` of running VM `uuid` into `target` and switches the guest over to it.
 * Arguments are checked by the RPC entry (disk-mirror-rpc.ts); `labelRoots` are the roots where
 * directories may be made searchable for QEMU's user.
 */
export async function mirrorDisk(
  vms: InstanceManager,
  uuid: string,
  device: string,
  target: DiskMirrorTarget,
  labelRoots: readonly string[],
  opts: { readyTimeoutMs?: number } = {},
): Promise<void> {
  // 1. Under the VM's queue: checks, label, target node, job.
  const started = await vms.withVm(uuid, async (vm) => {
    if (vm.migrating)
      throw new XenApiError('OPERATION_NOT_ALLOWED', [`VM ${uuid} is migrating: its disks cannot move now`]);
    const disk = vm.spec.disks.find((d) => d.device === device && !d.cdrom);
    if (!disk) throw new XenApiError('INVALID_VALUE', ['device', device, 'no such disk in the VM']);
    if (disk.readonly) throw new XenApiError('INVALID_VALUE', ['device', device, 'a read-only disk']);
    if (disk.path === target.path)
      throw new XenApiError('INVALID_VALUE', ['target', target.path, 'the disk is on it already']);
    const qmp = vm.requireQmp();
    let node: string | undefined;
    try {
      const who = vm.identity ?? qemuOwner(vms.opts.runAs);
      if (who) {
        const label = await grantImageAccess(target.path, target.format, false, who, labelRoots);
        // Recorded before QEMU opens it: a QEMU that ends meanwhile still gives it back.
        if (label) rememberLabel(vm.paths.dir, stagedLabel(device), label);
      }
      if (target.path.startsWith('/dev/') && vm.pid && inOwnMountNs(vm.pid))
        await makeDevNode(vm.pid, target.path);
      const source = topNodes(await qmp.command<BlockInfo[]>('query-block'), [device])[device];
      const candidate = targetNodeName(device);
      await qmp.command('blockdev-add', targetAddCommand(candidate, target));
      node = candidate;
      await qmp.command('blockdev-mirror', {
        'job-id': jobId(device),
        device: source,
        target: node,
        sync: 'full',
        'auto-dismiss': false,
      });
      return { qmp, node };
    } catch (e) {
      await abandon(vm, qmp, device, node);
      throw failed(device, e);
    }
  });

  // 2. The copy, outside the queue.
  const { qmp, node } = started;
  try {
    await waitMirrorsReady(qmp, [device], { prefix: DISK_MIRROR_PREFIX, timeoutMs: opts.readyTimeoutMs });
  } catch (e) {
    await vms.withVm(uuid, (vm) => abandon(vm, qmp, device, node)).catch(() => undefined); // the VM is gone: its QEMU took the job and node with it
    throw failed(device, e);
  }

  // 3. Under the queue again: pivot, then the spec and the labels follow.
  await vms.withVm(uuid, async (vm) => {
    try {
      await qmp.command('job-complete', { id: jobId(device) });
      const error = await waitConcluded(qmp, jobId(device));
      if (error) throw new Error(error);
      await qmp.command('job-dismiss', { id: jobId(device) }).catch(() => undefined);
    } catch (e) {
      await abandon(vm, qmp, device, node);
      throw failed(device, e);
    }
    const now = activeFile(await qmp.command<BlockInfo[]>('query-block'), device);
    if (now !== target.path)
      throw failed(device, new Error(`QEMU reads ${now ?? 'nothing'} after the pivot, not ${target.path}`));
    const disk = vm.spec.disks.find((d) => d.device === device);
    if (disk) {
      disk.path = target.path;
      disk.format = target.format;
      vm.saveSpec();
    }
    relabelAfterMirror(vm.paths.dir, device, stagedLabel(device));
  });
}
