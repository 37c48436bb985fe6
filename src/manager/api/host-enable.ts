// host.enable / host.disable with xapi's auto_enable: a host disabled with auto_enable=true is
// enabled again when the manager restarts; with false it stays disabled until host.enable.
// As xapi keeps the choice in its host-local database (Localdb host_auto_enable), Berth keeps it
// in a file of the data directory, outside the API's objects.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../db/database.js';
import type { CallContext } from './context.js';

const autoEnableFile = (dataDir: string) => join(dataDir, 'host-auto-enable');

/** Records the choice for this manager's own host (a pool member's is its own manager's to keep). */
function writeAutoEnable(ctx: CallContext, host: string, value: boolean) {
  if (host !== ctx.svc.hostRef()) return;
  writeFileSync(autoEnableFile(ctx.svc.dataDir), `${value}\n`, { mode: 0o600 });
}

export function disableHost(ctx: CallContext, host: string, autoEnable: boolean): void {
  const row = ctx.svc.db.mustGet('host', host);
  if (!row.enabled) return;
  ctx.svc.db.update('host', host, { enabled: false });
  if (!autoEnable) writeAutoEnable(ctx, host, false);
}

export function enableHost(ctx: CallContext, host: string): void {
  const row = ctx.svc.db.mustGet('host', host);
  if (row.enabled) return;
  writeAutoEnable(ctx, host, true);
  ctx.svc.db.update('host', host, { enabled: true });
}

/** At start-up: re-enable this host unless it was disabled with auto_enable=false. */
export function autoEnableAtStart(db: Database, host: string, dataDir: string): void {
  let value = 'true';
  try {
    value = readFileSync(autoEnableFile(dataDir), 'utf8').trim();
  } catch {
    // never disabled with auto_enable=false
  }
  if (value !== 'false' && db.get('host', host)?.enabled === false)
    db.update('host', host, { enabled: true });
}
