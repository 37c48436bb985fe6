// instance_disk_mirror as the agent serves it (the migration part of the host contract,
// src/shared/host/migration.ts). The RPC is a trust boundary: every argument is type-checked here
// (INVALID_VALUE [name, value, why] otherwise) and the target confined to this host's storage:
// an image file under the storage roots (storage/paths.ts's confine: normalised, symlinks
// resolved) or a volume of a Berth LVM SR (/dev/VG_XenStorage-<sr>/<lv>, a block device).
import { statSync } from 'node:fs';
import { XenApiError } from '../../shared/errors.js';
import type { InstanceManager } from '../instances.js';
import { checkDeviceName, UUID_RE } from '../qemu/spec-check.js';
import type { Procedure } from '../server.js';
import { confine } from '../storage/paths.js';
import { type DiskMirrorTarget, mirrorDisk } from './disk-mirror.js';

const bad = (name: string, v: unknown, why?: string) =>
  new XenApiError('INVALID_VALUE', [name, JSON.stringify(v) ?? 'undefined', ...(why ? [why] : [])]);

/** A volume of a Berth LVM SR (lvm-sr.ts names its volume groups VG_XenStorage-<sr uuid>). */
const LVM_VOLUME =
  /^\/dev\/VG_XenStorage-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/[A-Za-z0-9._+-]+$/;

function kind(path: string): 'file' | 'block' | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? 'file' : st.isBlockDevice() ? 'block' : undefined;
  } catch {
    return undefined;
  }
}

/** The target argument: { path, format } and nothing else, the path confined (see above). */
export function diskMirrorTarget(name: string, v: unknown, roots: readonly string[]): DiskMirrorTarget {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(name, v);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'path' && k !== 'format') throw bad(`${name}.${k}`, o[k]);
  if (o.format !== 'qcow2' && o.format !== 'raw') throw bad(`${name}.format`, o.format);
  const path = o.path;
  if (typeof path !== 'string' || path.includes('\0')) throw bad(`${name}.path`, path);
  if (path.startsWith('/dev/')) {
    if (!LVM_VOLUME.test(path)) throw bad(`${name}.path`, path, 'not a volume of a Berth LVM SR');
    if (kind(path) !== 'block') throw bad(`${name}.path`, path, 'no such block device');
  } else {
    confine(`${name}.path`, path, roots);
    if (kind(path) !== 'file') throw bad(`${name}.path`, path, 'no such image file');
  }
  return { path, format: o.format };
}

/**
 * The instance_disk_mirror procedure over the agent's VMs; `storageRoots` are the roots SR paths
 * lie under (storage/rpc.ts's allowedRoots). Spread into the agent's procedure table.
 */
export function diskMirrorProcedure(
  vms: InstanceManager,
  storageRoots: readonly string[],
): { instance_disk_mirror: Procedure } {
  return {
    instance_disk_mirror: async (uuid: unknown, device: unknown, target: unknown) => {
      if (typeof uuid !== 'string' || !UUID_RE.test(uuid)) throw bad('uuid', uuid);
      if (typeof device !== 'string') throw bad('device', device);
      checkDeviceName('device', device);
      const t = diskMirrorTarget('target', target, storageRoots);
      // Directories on the way may be made searchable for QEMU's user under these roots only.
      await mirrorDisk(vms, uuid, device, t, [...vms.opts.stateRoots, ...storageRoots]);
      return null;
    },
  };
}
