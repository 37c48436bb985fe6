// The pool's shared SRs on a host that joins, as xapi's create_storage does at a member's start:
// a PBD for every shared SR, with the device_config of the master's PBD (less "SRmaster"),
// plugged through the new host's agent once the master reaches it (plug-later.ts).
import type { Services } from '../api/context.js';
import type { Database, Row } from '../db/database.js';
import { plugWhenConnected } from './plug-later.js';
import { plugPbd, unplugPbd } from './sr-ops.js';

/** The device_config a new member's PBD of shared SR `sr` gets: the master's PBD's, else any one's. */
export function sharedDeviceConfig(
  db: Database,
  sr: string,
  master: string,
): Record<string, string> | undefined {
  const pbds = ((db.get('SR', sr)?.PBDs as string[]) ?? [])
    .map((p) => db.get('PBD', p))
    .filter((p): p is Row => p !== undefined);
  const from = pbds.find((p) => p.host === master) ?? pbds[0];
  if (!from) return undefined;
  const { SRmaster: _m, ...dc } = from.device_config as Record<string, string>;
  return dc;
}

/** Creates `host`'s PBD (unplugged) on every shared SR it has none of; returns the new PBD refs. */
export function addSharedSrPbds(db: Database, host: string, master: string): string[] {
  return db.transaction(() => {
    const made: string[] = [];
    for (const [sr, row] of [...db.all('SR')]) {
      if (!row.shared) continue;
      if ((row.PBDs as string[]).some((p) => db.get('PBD', p)?.host === host)) continue;
      const dc = sharedDeviceConfig(db, sr, master);
      if (!dc) continue; // introduced, never connected anywhere: nothing to copy from
      made.push(
        db.create('PBD', { host, SR: sr, device_config: dc, currently_attached: false, other_config: {} }),
      );
    }
    return made;
  });
}

/**
 * On the master, for a host that just joined (its records in, its agent client registered): its
 * PBDs on the pool's shared SRs, plugged once its agent connects. Returns the rows made, so that
 * an undone join removes them with the rest.
 */
export function connectSharedSrs(svc: Services, host: string): { cls: string; ref: string; record: Row }[] {
  const master = String(svc.db.get('pool', svc.poolRef())?.master ?? svc.hostRef());
  const made = addSharedSrPbds(svc.db, host, master);
  void plugWhenConnected(svc, host, made, plugPbd);
  return made.map((ref) => ({ cls: 'PBD', ref, record: { ...svc.db.mustGet('PBD', ref) } }));
}

/**
 * Before a host leaves the pool (pool.eject): its PBDs of shared SRs are unplugged through its
 * agent, as xapi's eject unplugs the host's PBDs; one that cannot be unplugged (HOST_OFFLINE,
 * VDI_IN_USE) fails the eject. Its local SRs stay plugged: they leave with it.
 */
export async function unplugSharedSrs(svc: Services, host: string): Promise<void> {
  const { db } = svc;
  for (const [pbd, row] of [...db.all('PBD')])
    if (row.host === host && row.currently_attached && db.get('SR', String(row.SR))?.shared)
      await unplugPbd(svc, pbd);
}
