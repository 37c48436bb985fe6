// How the linux device plugin reaches the host: commands (argument arrays, shared/exec.ts), files
// and /sys/class/net. Tests (and the hidden agent option `devicePlugins.recorded`) substitute
// recorded outputs per command or file for hardware this host lacks (SMART, md, ZFS); everything
// else, and the code path that parses and reports them, stays real.
import { access, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { run } from '../../shared/exec.js';
import {
  readSysClassNet,
  type SysNetSnapshot,
} from '../../shared/storage-resources/builtin/net-interfaces.js';
import type { CommandRunner } from '../plugins/types.js';

export interface GatherIo {
  run: CommandRunner;
  /** A file's text; rejects with ENOENT when it does not exist. */
  readFile(path: string): Promise<string>;
  readSysClassNet(): Promise<SysNetSnapshot>;
  /** Whether `tool` is installed (on PATH, or the sbin directories root's PATH has). */
  has(tool: string): Promise<boolean>;
}

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

async function onPath(tool: string): Promise<boolean> {
  const dirs = new Set([...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SEARCH]);
  for (const d of dirs) {
    try {
      await access(join(d, tool), 1 /* X_OK */);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

export const hostIo: GatherIo = {
  run,
  readFile: (path) => readFile(path, 'utf8'),
  readSysClassNet: () => readSysClassNet(),
  has: onPath,
};

/**
 * Recorded outputs: `commands` by argv joined with single spaces (`smartctl --scan`,
 * `mdadm --detail /dev/md127`), `files` by path, `sysClassNet` a snapshot. `absent` names tools
 * to treat as not installed even when they are.
 */
export interface RecordedOutputs {
  commands?: Record<string, string>;
  files?: Record<string, string>;
  sysClassNet?: SysNetSnapshot;
  absent?: string[];
}

export function recordedIo(rec: RecordedOutputs, base: GatherIo = hostIo): GatherIo {
  const commands = rec.commands ?? {};
  const files = rec.files ?? {};
  return {
    run: async (cmd, args, opts) => {
      const key = [cmd, ...args].join(' ');
      if (key in commands)
        return { code: 0, signal: null, stdout: commands[key], stderr: '', timedOut: false };
      return base.run(cmd, args, opts);
    },
    readFile: async (path) => (path in files ? files[path] : base.readFile(path)),
    readSysClassNet: () => (rec.sysClassNet ? Promise.resolve(rec.sysClassNet) : base.readSysClassNet()),
    has: async (tool) => {
      if (rec.absent?.includes(tool)) return false;
      if (Object.keys(commands).some((k) => k === tool || k.startsWith(`${tool} `))) return true;
      return base.has(tool);
    },
  };
}
