// lsblk.py: list_block_devices — the block device tree from `lsblk -P`, values kept as strings.
import { command } from '../command.js';
import { PluginFailure } from '../failure.js';
import { definePlugin } from '../types.js';

export const LSBLK_COLUMNS = ['NAME', 'KNAME', 'PKNAME', 'SIZE', 'TYPE', 'RO', 'MOUNTPOINT'] as const;

export interface BlockDevice {
  [key: string]: string | BlockDevice[] | undefined;
  children?: BlockDevice[];
}

/** One `KEY="value" ...` line of `lsblk -P` -> {key: value} with lower-cased keys. */
export function parsePairs(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of line.matchAll(/([A-Za-z0-9:_-]+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))/g)) {
    out[m[1].toLowerCase()] = m[2] ?? m[3] ?? '';
  }
  return out;
}

/** Builds the tree in output order: a device hangs under the device whose kname is its pkname. */
export function buildTree(stdout: string): { blockdevices: BlockDevice[] } {
  const top: BlockDevice[] = [];
  const byKname = new Map<string, BlockDevice>();
  for (const line of stdout.trim().split('\n')) {
    if (line.trim() === '') continue;
    const dev: BlockDevice = parsePairs(line);
    const pkname = (dev.pkname as string | undefined) ?? '';
    if (pkname === '') {
      top.push(dev);
    } else {
      const parent = byKname.get(pkname);
      if (!parent) throw new PluginFailure('-1', `lsblk listed ${dev.kname} before its parent ${pkname}`);
      parent.children ??= [];
      parent.children.push(dev);
    }
    byKname.set(dev.kname as string, dev);
  }
  return { blockdevices: top };
}

export const lsblk = definePlugin('lsblk', {
  async list_block_devices(_args, ctx) {
    const r = await command(ctx, ['lsblk', '-P', '-b', '-o', LSBLK_COLUMNS.join(',')]);
    return JSON.stringify(buildTree(r.stdout));
  },
});
