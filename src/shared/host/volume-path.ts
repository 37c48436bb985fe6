// Where a volume lives on the host, from its SR's type, uuid and device_config and its location
// (pure: the manager derives VM disk paths from the database without asking the agent).
import { join } from 'node:path';
import type { ImageFormat } from './storage.js';

/** Where every host mounts its network SRs, as xapi's SM (the agent's srMountDir default). */
export const SR_MOUNT_DIR = '/run/sr-mount';

/**
 * Where the agent links an attached ExtStorage volume (the block device its provider's `attach`
 * printed): /dev/berth-ext/<sr uuid>/<volume>. Under /dev so QEMU's private /dev gets the node.
 */
export const EXT_DEV_DIR = '/dev/berth-ext';
export const extVolumePath = (srUuid: string, location: string) => `${EXT_DEV_DIR}/${srUuid}/${location}`;

export function volumePath(
  type: string,
  srUuid: string,
  dc: Record<string, string>,
  location: string,
  srMountDir = SR_MOUNT_DIR,
): { path: string; format: ImageFormat } | undefined {
  if (!location || location.includes('/') || location.startsWith('.')) return undefined;
  switch (type) {
    case 'file':
      return { path: join(dc.location ?? dc.path ?? '', `${location}.qcow2`), format: 'qcow2' };
    case 'iso':
      return { path: join(dc.location ?? '', location), format: 'raw' };
    case 'nfs':
      return { path: join(srMountDir, srUuid, `${location}.qcow2`), format: 'qcow2' };
    case 'lvm':
      return { path: `/dev/VG_XenStorage-${srUuid}/LV-${location}`, format: 'raw' };
    case 'ext':
      return { path: extVolumePath(srUuid, location), format: 'raw' };
    default:
      return undefined;
  }
}
