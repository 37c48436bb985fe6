// Per-VM identities: each running VM's QEMU drops to its own uid and gid (uid = gid) from a
// reserved range, so one escaped guest cannot open another VM's images (labelled for that VM's
// uid/gid only). The id is chosen at start (the lowest one no running VM of this agent holds and
// no /etc/passwd or /etc/group entry uses), recorded in the VM's runtime dir (`identity.json`,
// read back on adoption after an agent restart) and free again once the runtime dir goes (the VM
// stopped). Nothing is added to /etc/passwd: QEMU takes `-runas <uid>:<gid>`.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Owner } from './dac.js';

export interface IdRange {
  base: number;
  count: number;
}

/**
 * The default range: 1,900,000,000 + 0…9,999. Above systemd's container range (524288 to
 * 1879048191) and its dynamic users, below 2^31 (tools that use signed ids), far from login.defs'
 * ranges; BERTH_QEMU_IDS=BASE:COUNT moves it.
 */
export const DEFAULT_ID_RANGE: IdRange = { base: 1_900_000_000, count: 10_000 };

/** Parses BERTH_QEMU_IDS (`BASE:COUNT`; pure). */
export function parseIdRange(s: string): IdRange {
  const m = /^(\d+):(\d+)$/.exec(s.trim());
  const base = m ? Number(m[1]) : Number.NaN;
  const count = m ? Number(m[2]) : Number.NaN;
  if (!m || base < 1000 || count < 1 || base + count > 2 ** 31 - 1)
    throw new Error(`BERTH_QEMU_IDS: expected BASE:COUNT within 1000…2^31-1, got ${s}`);
  return { base, count };
}

/** The lowest id of `range` not in `used` and not `taken` (pure over `taken`); none: throws. */
export function pickId(range: IdRange, used: ReadonlySet<number>, taken: (id: number) => boolean): number {
  for (let id = range.base; id < range.base + range.count; id++) if (!used.has(id) && !taken(id)) return id;
  throw new Error(`no free QEMU id left in ${range.base}…${range.base + range.count - 1}`);
}

/** Ids named in /etc/passwd (uids) and /etc/group (gids): never handed to a VM. */
export function systemIds(): Set<number> {
  const ids = new Set<number>();
  for (const [file, field] of [
    ['/etc/passwd', 2],
    ['/etc/group', 2],
  ] as const) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const n = Number(line.split(':')[field]);
        if (Number.isInteger(n)) ids.add(n);
      }
    } catch {
      /* absent: nothing to avoid */
    }
  }
  return ids;
}

const identityFile = (runDir: string) => join(runDir, 'identity.json');

/** The identity recorded in a VM's runtime dir (undefined: none, QEMU as root or a shared user). */
export function readIdentity(runDir: string): Owner | undefined {
  try {
    const o = JSON.parse(readFileSync(identityFile(runDir), 'utf8')) as Owner;
    return Number.isInteger(o?.uid) && Number.isInteger(o?.gid) && o.uid > 0 ? o : undefined;
  } catch {
    return undefined;
  }
}

export function writeIdentity(runDir: string, who: Owner): void {
  const file = identityFile(runDir);
  writeFileSync(`${file}.tmp`, JSON.stringify({ uid: who.uid, gid: who.gid }), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Ids held by the VMs whose runtime dirs are under `runRoot` (running or being started). */
export function idsInUse(runRoot: string): Set<number> {
  const used = new Set<number>();
  if (!existsSync(runRoot)) return used;
  for (const name of readdirSync(runRoot)) {
    const who = readIdentity(join(runRoot, name));
    if (who) used.add(who.uid);
  }
  return used;
}
