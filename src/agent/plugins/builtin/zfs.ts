// zfs.py: list_zfs_pools — every dataset's properties from `zfs get -H all`.
import { command } from '../command.js';
import { OsError } from '../failure.js';
import { definePlugin } from '../types.js';

/** `zfs get -H all` (name TAB property TAB value TAB source) -> {dataset: {property: value}}. */
export function parseZfsGet(stdout: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    const [name, prop, value] = line.split('\t');
    if (prop === undefined || value === undefined) continue;
    out[name] ??= {};
    out[name][prop] = value;
  }
  return out;
}

export const zfs = definePlugin('zfs', {
  async list_zfs_pools(_args, ctx) {
    try {
      const r = await command(ctx, ['zfs', 'get', '-H', 'all']);
      return JSON.stringify(parseZfsGet(r.stdout));
    } catch (e) {
      // No zfs tools on the host: no pools.
      if (e instanceof OsError && e.errno === 2) return '{}';
      throw e;
    }
  },
});
