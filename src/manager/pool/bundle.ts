// The database content a joining host hands to its new master, as xapi's pool.join does
// (update_non_vm_metadata + the VM metadata import): its host record with metrics and CPUs, its
// PIFs, its local SRs with their PBDs and VDIs, its VMs with their VBDs, VIFs and consoles. Its
// pool object, roles, sessions and tasks stay behind, and so do the default templates (the master
// has its own); networks are pool-wide and merge with the master's by bridge name.
import type { Model } from '../../shared/datamodel/model-types.js';
import type { Database, Row } from '../db/database.js';

/** Classes whose rows belong to a standalone host and move with it into a pool. */
export const HOST_CLASSES = [
  'host',
  'host_metrics',
  'host_cpu',
  'host_crashdump',
  'network',
  'PIF',
  'PIF_metrics',
  'SR',
  'PBD',
  'VDI',
  'VM',
  'VM_metrics',
  'VM_guest_metrics',
  'VBD',
  'VBD_metrics',
  'VIF',
  'VIF_metrics',
  'console',
  'crashdump',
  'VTPM',
] as const;

/** Objects that hang off a VM and go (or stay) with it. */
const VM_CHILDREN = ['VBD', 'VIF', 'console', 'crashdump', 'VTPM'] as const;

export interface BundleRow {
  cls: string;
  ref: string;
  record: Row;
}

export interface JoinBundle {
  host: string;
  rows: BundleRow[];
}

/** What the joining host sends: every row of the host classes, minus default templates. */
export function collectBundle(db: Database, host: string): JoinBundle {
  const dropped = new Set<string>();
  for (const [ref, vm] of db.all('VM')) {
    if (vm.is_default_template === true) {
      dropped.add(ref);
      for (const m of [vm.metrics, vm.guest_metrics]) if (typeof m === 'string') dropped.add(m);
    }
  }
  const rows: BundleRow[] = [];
  for (const cls of HOST_CLASSES) {
    if (!db.model.classes[cls]?.inDb) continue;
    for (const [ref, record] of db.all(cls)) {
      if (dropped.has(ref)) continue;
      if ((VM_CHILDREN as readonly string[]).includes(cls) && dropped.has(String(record.VM))) continue;
      rows.push({ cls, ref, record: structuredClone(record) });
    }
  }
  return { host, rows };
}

/** For each class, the "one" side of its relations: field → the parent list it appears in. */
function parentLinks(model: Model): Map<string, { field: string; parentCls: string; listField: string }[]> {
  const out = new Map<string, { field: string; parentCls: string; listField: string }[]>();
  for (const c of Object.values(model.classes)) {
    for (const r of c.relations) {
      let l = out.get(r.otherClass);
      if (!l) out.set(r.otherClass, (l = []));
      l.push({ field: r.otherField, parentCls: c.name, listField: r.field });
    }
  }
  return out;
}

/** Fields of `cls` that hold a ref (or a set of refs) to `target`. */
function refFieldsTo(model: Model, cls: string, target: string): string[] {
  return model.classes[cls].fields
    .filter(
      (f) =>
        (f.type.kind === 'ref' && f.type.cls === target) ||
        (f.type.kind === 'set' && f.type.of.kind === 'ref' && f.type.of.cls === target),
    )
    .map((f) => f.name);
}

/**
 * Makes the rows of a parent's list fields (host.PIFs, VM.VBDs, ...) list every created child:
 * Database.create fills them only for children created after their parent.
 */
export function linkChildren(db: Database, created: BundleRow[]): void {
  const links = parentLinks(db.model);
  for (const { cls, ref } of created) {
    const row = db.get(cls, ref);
    if (!row) continue;
    for (const l of links.get(cls) ?? []) {
      const parent = db.get(l.parentCls, String(row[l.field]));
      const list = parent?.[l.listField] as string[] | undefined;
      if (parent && list && !list.includes(ref))
        db.update(l.parentCls, String(row[l.field]), { [l.listField]: [...list, ref] });
    }
  }
}

/**
 * Writes a joining host's rows into the master's database in one transaction (all or none;
 * a uuid the pool already holds fails it with DB_UNIQUENESS_CONSTRAINT_VIOLATION). Returns the
 * created rows, so that the join can be undone.
 */
export function importBundle(db: Database, bundle: JoinBundle): BundleRow[] {
  return db.transaction(() => {
    const byBridge = new Map<string, string>();
    for (const [ref, n] of db.all('network')) if (n.bridge) byBridge.set(String(n.bridge), ref);
    const networkMap = new Map<string, string>();
    for (const r of bundle.rows) {
      if (r.cls !== 'network') continue;
      const existing = byBridge.get(String(r.record.bridge));
      if (existing) networkMap.set(r.ref, existing);
    }
    const created: BundleRow[] = [];
    for (const r of bundle.rows) {
      if (!db.model.classes[r.cls]?.inDb) continue;
      if (r.cls === 'network' && networkMap.has(r.ref)) continue;
      const record = { ...r.record };
      for (const f of refFieldsTo(db.model, r.cls, 'network')) {
        const v = record[f];
        if (typeof v === 'string') record[f] = networkMap.get(v) ?? v;
        else if (Array.isArray(v)) record[f] = v.map((x) => networkMap.get(String(x)) ?? x);
      }
      // The master decides liveness from its own connection to the host's agent.
      if (r.cls === 'host_metrics') record.live = false;
      db.create(r.cls, record, r.ref);
      created.push({ cls: r.cls, ref: r.ref, record });
    }
    linkChildren(db, created);
    return created;
  });
}

/** Removes what importBundle created (a join that failed on the joining host's side). */
export function undoImport(db: Database, created: BundleRow[]): void {
  db.transaction(() => {
    for (let i = created.length - 1; i >= 0; i--) {
      const { cls, ref } = created[i];
      if (db.has(cls, ref)) db.destroy(cls, ref);
    }
  });
}
