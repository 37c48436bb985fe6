// The watcher pause (Ganeti's SetWatcherPause / get_watcher_pause): a file holding the epoch
// second until which the watcher must not act, "<int>\n", mode 0644. Berth's watcher is the pool
// master's automatic restart of protected VMs (src/manager/pool/auto-restart.ts), which asks its
// own host's agent before acting.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';

export const WATCHER_PAUSE_FILE = 'watcher.pause';

/** `until` as Ganeti accepts it: null, or a finite non-negative number (pure). */
export function checkUntil(until: unknown): number | null {
  if (until === null || until === undefined) return null;
  if (typeof until !== 'number' || !Number.isFinite(until) || until < 0)
    throw new XenApiError('INVALID_VALUE', [
      'until',
      JSON.stringify(until) ?? 'undefined',
      'epoch seconds or null',
    ]);
  return Math.floor(until);
}

export function setWatcherPause(stateRoot: string, until: number | null): void {
  const file = join(stateRoot, WATCHER_PAUSE_FILE);
  if (until === null) {
    rmSync(file, { force: true });
    return;
  }
  writeFileSync(`${file}.tmp`, `${until}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

/** The pause's end if it is after `nowS` (epoch seconds), else null. */
export function getWatcherPause(stateRoot: string, nowS = Date.now() / 1000): number | null {
  let text: string;
  try {
    text = readFileSync(join(stateRoot, WATCHER_PAUSE_FILE), 'utf8');
  } catch {
    return null;
  }
  const until = /^\d+\n?$/.test(text) ? Number(text.trim()) : Number.NaN;
  return Number.isSafeInteger(until) && until > nowS ? until : null;
}
