// Local mounts from /proc/self/mountinfo (proc(5)): a LocalMount for each mount of a block device
// the other sources reported, child of that device's drive (so the drive counts as occupied).
// Mounts of proc, tmpfs, overlay and other device-less filesystems are not storage: skipped.
import { LocalMount } from '../api/linux-resources.js';
import type { Plugin } from '../api/plugin.js';
import type { Resource } from '../api/resource.js';
import { ToolOutputError } from './output-error.js';

const TOOL = '/proc/self/mountinfo';

export interface MountEntry {
  majMin: string;
  mountPoint: string;
  fstype: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function decodeOctalEscapes(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || sep + 2 >= f.length || !/^\d+:\d+$/.test(f[2]))
      throw new ToolOutputError(TOOL, `line ${i + 1} is not a mountinfo line`);
    out.push({
      majMin: f[2],
      mountPoint: decodeOctalEscapes(f[4]),
      fstype: f[sep + 1],
      source: decodeOctalEscapes(f[sep + 2]),
    });
  });
  return out;
}

/** Reports the mounts whose device (by major:minor) is one of `drivesByMajMin`. */
export function reportMounts(
  plugin: Plugin,
  mounts: readonly MountEntry[],
  drivesByMajMin: ReadonlyMap<string, Resource>,
): Resource[] {
  const out: Resource[] = [];
  for (const m of mounts) {
    const drive = drivesByMajMin.get(m.majMin);
    if (!drive) continue;
    out.push(
      plugin.updateOrCreate(LocalMount, { fstype: m.fstype, mount_point: m.mountPoint }, [drive]).resource,
    );
  }
  return out;
}
