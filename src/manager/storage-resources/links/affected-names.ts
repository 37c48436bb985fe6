// The SRs, VDIs and VMs an alert affects, by name and uuid, for the alert's XenAPI message body
// (runtime/alert-to-message.ts). Read from the database when the message is made.
import type { BerthObjectsDb } from './links.js';
import type { AffectedObjects } from './types.js';

export interface NamedObject {
  name: string;
  uuid: string;
}

export interface AffectedNames {
  srs: NamedObject[];
  vdis: NamedObject[];
  vms: NamedObject[];
}

function named(db: BerthObjectsDb, cls: string, refs: string[]): NamedObject[] {
  const out: NamedObject[] = [];
  for (const ref of refs) {
    const row = db.get(cls, ref);
    if (row) out.push({ name: String(row.name_label ?? ''), uuid: String(row.uuid ?? '') });
  }
  return out;
}

export function affectedNames(a: AffectedObjects, db: BerthObjectsDb): AffectedNames {
  return { srs: named(db, 'SR', a.srs), vdis: named(db, 'VDI', a.vdis), vms: named(db, 'VM', a.vms) };
}
