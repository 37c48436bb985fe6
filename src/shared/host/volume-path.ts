// Where a volume lives on the host, from its SR's type, uuid and device_config and its location
// (pure: the manager derives VM disk paths from the database without asking the agent).
import { join } from 'node:path';
import type { ImageFormat } from './storage.js';

export function volumePath(
  type: string,
  srUuid: string,
  dc: Record<string, string>,
  location: string,
): { path: string; format: ImageFormat } | undefined {
  if (!location || location.includes('/') || location.startsWith('.')) return undefined;
  switch (type) {
    case 'file':
      return { path: join(dc.location ?? dc.path ?? '', `${location}.qcow2`), format: 'qcow2' };
    case 'iso':
      return { path: join(dc.location ?? '', location), format: 'raw' };
    case 'lvm':
      return { path: `/dev/VG_XenStorage-${srUuid}/LV-${location}`, format: 'raw' };
    default:
      return undefined;
  }
}
