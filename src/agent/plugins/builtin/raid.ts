// raid.py: check_raid_pool — the state of the host's md RAID array from `mdadm --detail`.
import { command } from '../command.js';
import { ProcessError } from '../failure.js';
import { definePlugin } from '../types.js';

/** The array the XCP-ng installer creates; upstream checks only this one. */
export const RAID_DEVICE = '/dev/md127';

export interface RaidStatus {
  raid: Record<string, string>;
  volumes: string[][];
}

/** `mdadm --detail` -> {raid: {key: value}, volumes: [[Number, Major, Minor, RaidDevice, State..., Device]]}. */
export function parseMdadmDetail(stdout: string): RaidStatus {
  const lines = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .slice(1); // "/dev/md127:"
  const header = lines.findIndex((l) => l.startsWith('Number'));
  const head = header < 0 ? lines : lines.slice(0, header);
  const raid: Record<string, string> = {};
  for (const line of head) {
    const i = line.indexOf(' : ');
    if (i < 0) continue;
    raid[line.slice(0, i).trim()] = line.slice(i + 3).trim();
  }
  const volumes =
    header < 0
      ? []
      : lines.slice(header + 1).map((l) =>
          l
            .split(/ {2,}/)
            .map((s) => s.trim())
            .filter((s) => s !== ''),
        );
  return { raid, volumes };
}

export const raid = definePlugin('raid', {
  check_raid_pool(_args, ctx) {
    return ctx.locks.busy('raid').with(async () => {
      try {
        const r = await command(ctx, ['mdadm', '--detail', RAID_DEVICE]);
        return JSON.stringify(parseMdadmDetail(r.stdout));
      } catch (e) {
        // mdadm exits non-zero when the array does not exist: no RAID.
        if (e instanceof ProcessError) return '{}';
        throw e;
      }
    });
  },
});
