// Which rows of the pool database belong to one host alone: what leaves the pool with it on
// pool.eject (xapi destroys the ejected host's record, its local SRs and the VMs whose disks are
// all on them) and what an ejected host keeps as its own standalone pool.
import type { Database } from '../db/database.js';
import { HOST_CLASSES } from './bundle.js';

export type RowKey = { cls: string; ref: string };

const VM_CHILDREN = ['VBD', 'VIF', 'console', 'crashdump', 'VTPM'] as const;

class RefSet {
  readonly keys: RowKey[] = [];
  private readonly seen = new Set<string>();
  constructor(private readonly db: Database) {}
  add(cls: string, ref: unknown) {
    const r = String(ref);
    if (this.seen.has(r) || !this.db.model.classes[cls]?.inDb || !this.db.has(cls, r)) return;
    this.seen.add(r);
    this.keys.push({ cls, ref: r });
  }
  has(ref: unknown) {
    return this.seen.has(String(ref));
  }
}

/** A VM with everything that hangs off it. */
function addVm(db: Database, out: RefSet, ref: string) {
  const vm = db.get('VM', ref);
  if (!vm) return;
  out.add('VM', ref);
  out.add('VM_metrics', vm.metrics);
  out.add('VM_guest_metrics', vm.guest_metrics);
  for (const cls of VM_CHILDREN) {
    if (!db.model.classes[cls]?.inDb) continue;
    for (const [child, row] of db.all(cls)) {
      if (row.VM !== ref) continue;
      out.add(cls, child);
      if (cls === 'VBD') out.add('VBD_metrics', row.metrics);
      if (cls === 'VIF') out.add('VIF_metrics', row.metrics);
    }
  }
}

/**
 * The host's record and what only describes it: metrics, CPUs, crash dumps, PIFs, PBDs and its
 * control domain (what host.destroy removes with it, as xapi's db_gc does).
 */
export function hostRecordRows(db: Database, host: string): RowKey[] {
  return hostRows(db, host).keys;
}

function hostRows(db: Database, host: string): RefSet {
  const out = new RefSet(db);
  const h = db.mustGet('host', host);
  out.add('host', host);
  out.add('host_metrics', h.metrics);
  for (const [ref, c] of db.all('host_cpu')) if (c.host === host) out.add('host_cpu', ref);
  for (const [ref, c] of db.all('host_crashdump')) if (c.host === host) out.add('host_crashdump', ref);
  for (const [ref, pif] of db.all('PIF')) {
    if (pif.host !== host) continue;
    out.add('PIF', ref);
    out.add('PIF_metrics', pif.metrics);
  }
  for (const [ref, pbd] of db.all('PBD')) if (pbd.host === host) out.add('PBD', ref);
  for (const [ref, vm] of db.all('VM'))
    if (vm.is_control_domain && vm.resident_on === host) addVm(db, out, ref);
  return out;
}

/**
 * Everything of the host's own: its record rows (above), the SRs only it holds with their VDIs,
 * and the VMs whose disks are all on those SRs.
 */
export function hostLocalRows(db: Database, host: string): RowKey[] {
  const out = hostRows(db, host);
  const localSrs = new Set<string>();
  for (const pbd of db.all('PBD').values()) {
    if (pbd.host !== host) continue;
    const sr = String(pbd.SR);
    const holders = [...db.all('PBD').values()].filter((p) => p.SR === sr);
    if (holders.every((p) => p.host === host)) localSrs.add(sr);
  }
  for (const sr of localSrs) out.add('SR', sr);
  for (const [ref, vdi] of db.all('VDI')) if (localSrs.has(String(vdi.SR))) out.add('VDI', ref);
  for (const [ref, vm] of db.all('VM')) {
    if (vm.is_control_domain || vm.is_default_template) continue;
    const disks = [...db.all('VBD').values()].filter((v) => v.VM === ref && db.has('VDI', String(v.VDI)));
    if (disks.length > 0 && disks.every((v) => out.has(v.VDI))) addVm(db, out, ref);
  }
  return out.keys;
}

/** The default templates with their children (every standalone host has them). */
export function defaultTemplateRows(db: Database): RowKey[] {
  const out = new RefSet(db);
  for (const [ref, vm] of db.all('VM')) if (vm.is_default_template) addVm(db, out, ref);
  return out.keys;
}

/**
 * What an ejected host drops from its copy of the pool database: every host-level row but its own
 * (hostLocalRows), the default templates and the networks its PIFs are on.
 */
export function rowsOfOtherHosts(db: Database, host: string): RowKey[] {
  const keep = new Set([...hostLocalRows(db, host), ...defaultTemplateRows(db)].map((r) => r.ref));
  for (const pif of db.all('PIF').values()) if (pif.host === host) keep.add(String(pif.network));
  // Its PBDs of the pool's shared SRs go with those SRs.
  for (const [ref, pbd] of db.all('PBD')) if (!keep.has(String(pbd.SR))) keep.delete(ref);
  const out: RowKey[] = [];
  for (const cls of [...HOST_CLASSES, 'Bond', 'VLAN', 'tunnel']) {
    if (!db.model.classes[cls]?.inDb) continue;
    for (const ref of db.all(cls).keys()) if (!keep.has(ref)) out.push({ cls, ref });
  }
  return out;
}

/** Destroys rows in one transaction (children first, so parents' lists stay consistent). */
export function destroyRows(db: Database, rows: RowKey[]): void {
  db.transaction(() => {
    for (let i = rows.length - 1; i >= 0; i--)
      if (db.has(rows[i].cls, rows[i].ref)) db.destroy(rows[i].cls, rows[i].ref);
  });
}
