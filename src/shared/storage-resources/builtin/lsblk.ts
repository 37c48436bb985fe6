// Block devices and partitions from `lsblk --json --bytes --output-all` (the linux plugin's
// devices; reference §10). Unknown fields are ignored; missing ones the report needs are errors.
import { LinuxDeviceNode, Partition, ScsiDevice, UnsharedDevice } from '../api/linux-resources.js';
import type { Plugin } from '../api/plugin.js';
import type { Resource } from '../api/resource.js';
import { isRecord, parseToolJson, requireString, ToolOutputError, toSize } from './output-error.js';

const TOOL = 'lsblk';

export interface BlockDevice {
  name: string;
  path: string;
  /** "major:minor", how /proc/self/mountinfo names the device. */
  majMin: string;
  type: string;
  size: number;
  serial: string | null;
  fstype: string | null;
  /** Partition number (from `partn`, or the name's trailing digits when lsblk lacks the column). */
  partn: number | null;
  /** Path of the device this one is part of (a partition's disk), null at the top. */
  parentPath: string | null;
}

function optString(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

function partitionNumber(d: Record<string, unknown>, name: string): number | null {
  if (typeof d.partn === 'number') return d.partn;
  const m = /(\d+)$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Every device, depth first, children after their parent. */
export function parseLsblk(text: string): BlockDevice[] {
  const doc = parseToolJson(TOOL, text);
  if (!isRecord(doc) || !Array.isArray(doc.blockdevices))
    throw new ToolOutputError(TOOL, 'no "blockdevices" array');
  const out: BlockDevice[] = [];
  const walk = (list: unknown[], parentPath: string | null, depth: number) => {
    if (depth > 16) throw new ToolOutputError(TOOL, 'devices nested deeper than 16 levels');
    for (const d of list) {
      if (!isRecord(d)) throw new ToolOutputError(TOOL, 'a device is not an object');
      const name = requireString(TOOL, 'device name', d.name);
      const path = typeof d.path === 'string' ? d.path : `/dev/${name}`;
      if (!path.startsWith('/dev/'))
        throw new ToolOutputError(TOOL, `device path ${JSON.stringify(path)} is not under /dev`);
      const type = requireString(TOOL, `type of ${name}`, d.type);
      out.push({
        name,
        path,
        majMin: requireString(TOOL, `maj:min of ${name}`, d['maj:min']),
        type,
        size: toSize(TOOL, `size of ${name}`, d.size),
        serial: optString(d.serial),
        fstype: optString(d.fstype),
        partn: type === 'part' ? partitionNumber(d, name) : null,
        parentPath,
      });
      if (d.children !== undefined) {
        if (!Array.isArray(d.children))
          throw new ToolOutputError(TOOL, `children of ${name} is not an array`);
        walk(d.children, path, depth + 1);
      }
    }
  };
  walk(doc.blockdevices, null, 0);
  return out;
}

export interface ReportedDevice {
  device: BlockDevice;
  drive: Resource;
  node: Resource;
}

/**
 * Reports disks (ScsiDevice when they have a serial, else UnsharedDevice), loop devices
 * (UnsharedDevice) and partitions (Partition of their disk), each with a LinuxDeviceNode child.
 * Empty devices (size 0: an unconfigured zram, a detached loop) are skipped. Returns the reported
 * devices by path, for the sources that continue from them (LVM PVs, mounts).
 */
export function reportBlockDevices(
  plugin: Plugin,
  parent: Resource,
  hostId: number,
  devices: readonly BlockDevice[],
): Map<string, ReportedDevice> {
  const byPath = new Map<string, ReportedDevice>();
  for (const device of devices) {
    if (device.size === 0) continue;
    const filesystem_type = device.fstype ?? undefined;
    let drive: Resource;
    if (device.type === 'part') {
      const container = device.parentPath ? byPath.get(device.parentPath) : undefined;
      if (!container || device.partn === null) continue; // a partition of something not reported
      drive = plugin.updateOrCreate(
        Partition,
        { container: container.drive, number: device.partn, size: device.size, filesystem_type },
        [container.drive],
      ).resource;
    } else if (device.type === 'disk' || device.type === 'loop') {
      drive = device.serial
        ? plugin.updateOrCreate(ScsiDevice, { serial: device.serial, size: device.size, filesystem_type }, [
            parent,
          ]).resource
        : plugin.updateOrCreate(UnsharedDevice, { path: device.path, size: device.size, filesystem_type }, [
            parent,
          ]).resource;
    } else continue; // lvm, md, rom, crypt: reported by their own sources
    const node = plugin.updateOrCreate(
      LinuxDeviceNode,
      { host_id: hostId, path: device.path, logical_drive: drive },
      [drive],
    ).resource;
    byPath.set(device.path, { device, drive, node });
  }
  return byPath;
}
