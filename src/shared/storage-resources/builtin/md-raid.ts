// md RAID arrays from /proc/mdstat (which arrays exist, their members) and `mdadm --detail
// /dev/mdN` (uuid, size, state). An array's parents are its members' drives, so a failing disk's
// alert reaches the array and what is built on it.
import { LinuxDeviceNode, MdRaid } from '../api/linux-resources.js';
import type { Plugin } from '../api/plugin.js';
import type { Resource } from '../api/resource.js';
import type { ReportedDevice } from './lsblk.js';
import { ToolOutputError } from './output-error.js';

export interface MdstatArray {
  name: string;
  active: boolean;
  level: string | null;
  /** Member device names (sda, sdb1) with their failed flag. */
  members: { name: string; failed: boolean }[];
}

/** /proc/mdstat: "md127 : active raid1 sdb[1](F) sda[0]" lines (drivers/md/md.c md_seq_show). */
export function parseMdstat(text: string): MdstatArray[] {
  const tool = '/proc/mdstat';
  if (!/^Personalities\s*:/m.test(text)) throw new ToolOutputError(tool, 'no "Personalities" line');
  const out: MdstatArray[] = [];
  for (const line of text.split('\n')) {
    const m = /^(md\w+)\s*:\s*(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const words = m[3].split(/\s+/).filter((w) => w !== '' && !w.startsWith('('));
    const level = words[0] && !words[0].includes('[') ? words.shift()! : null;
    const members = words.map((w) => {
      const dm = /^([\w.-]+)\[\d+\](\([A-Z]\))*$/.exec(w);
      if (!dm) throw new ToolOutputError(tool, `member ${JSON.stringify(w)} of ${m[1]} is not "name[n]"`);
      return { name: dm[1], failed: w.includes('(F)') };
    });
    out.push({ name: m[1], active: m[2] === 'active', level, members });
  }
  return out;
}

export interface MdDetail {
  path: string;
  uuid: string;
  name: string | null;
  level: string;
  /** Bytes (mdadm prints KiB). */
  size: number;
  state: string;
  /** Member device paths that are in the array (removed slots are left out). */
  members: string[];
}

/** `mdadm --detail /dev/mdN` (text; its --export form lacks the member list on older mdadm). */
export function parseMdadmDetail(text: string): MdDetail {
  const tool = 'mdadm --detail';
  const path = /^(\/dev\/\S+):\s*$/m.exec(text)?.[1];
  if (!path) throw new ToolOutputError(tool, 'no "/dev/mdN:" header');
  const field = (k: string) => new RegExp(`^\\s*${k}\\s*:\\s*(.*?)\\s*$`, 'm').exec(text)?.[1];
  const uuid = field('UUID');
  if (!uuid || !/^[0-9a-f]{8}(:[0-9a-f]{8}){3}$/.test(uuid))
    throw new ToolOutputError(tool, `${path}: no UUID`);
  const sizeKiB = /^(\d+)/.exec(field('Array Size') ?? '')?.[1];
  if (!sizeKiB) throw new ToolOutputError(tool, `${path}: no Array Size`);
  const members: string[] = [];
  const table = text.indexOf('RaidDevice State');
  if (table >= 0)
    for (const line of text.slice(table).split('\n').slice(1)) {
      const dev = /\s(\/dev\/\S+)\s*$/.exec(line)?.[1];
      if (dev) members.push(dev);
    }
  return {
    path,
    uuid,
    name: field('Name') ?? null,
    level: field('Raid Level') ?? 'unknown',
    size: Number(sizeKiB) * 1024,
    state: field('State') ?? 'unknown',
    members,
  };
}

/** Reports each array as an MdRaid (parents: its members' drives, else `parent`) with its device node. */
export function reportMdRaid(
  plugin: Plugin,
  parent: Resource,
  hostId: number,
  arrays: readonly MdDetail[],
  devices: ReadonlyMap<string, ReportedDevice> = new Map(),
): Map<string, Resource> {
  const out = new Map<string, Resource>();
  for (const a of arrays) {
    const memberDrives = a.members
      .map((m) => devices.get(m)?.drive)
      .filter((d): d is Resource => d !== undefined);
    const { resource } = plugin.updateOrCreate(
      MdRaid,
      { uuid: a.uuid, name: a.name ?? undefined, size: a.size },
      memberDrives.length > 0 ? memberDrives : [parent],
    );
    plugin.updateOrCreate(LinuxDeviceNode, { host_id: hostId, path: a.path, logical_drive: resource }, [
      resource,
    ]);
    out.set(a.path, resource);
  }
  return out;
}
