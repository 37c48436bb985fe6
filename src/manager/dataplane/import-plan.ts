// The planning half of xapi's Import.handle_all: from the objects of an ova.xml and the current
// database, decide what each object becomes (an existing object, a new record with a ref chosen
// now, or nothing) and the disks that receive data. Pure over the database: it only reads, so a
// dry run is just a plan, and apply (import-apply.ts) creates everything in one transaction.
//
// Handler order, lookups and errors follow ocaml/xapi/import.ml:
//   host (by uuid) → SR (metadata: by uuid; full: the target SR) → VDI (ISO: by location in an
//   ISO SR, else ejected; metadata: vdi_map by uuid/SCSIid, then SR+location, else
//   VDI_LOCATION_MISSING / VDI_CONTENT_ID_MISSING unless force; full: a new VDI in the target
//   SR) → guest metrics → metrics → VM (restore keeps the uuid and may replace a halted VM with
//   an older version: VM_BAD_POWER_STATE / VM_TO_IMPORT_IS_NOT_NEWER_VERSION; default templates
//   map to the existing one) → network (by name_label, then bridge, else created) → VBD → VIF
//   (new MAC unless restore) → VTPM; then snapshot_of/parent links. A ref to an object missing
//   from the document is IMPORT_ERROR_FAILED_TO_FIND_OBJECT [id].
// GPU and PVS objects are ignored (Berth has neither), as are classes xapi has no handler for.
import { randomBytes, randomUUID } from 'node:crypto';
import type { ClassSpec } from '../../shared/datamodel/model-types.js';
import { NULL_REF, type TypeDesc } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { validUserdevice } from '../api/vbd.js';
import { validVifDevice } from '../api/vif.js';
import { type Database, newRef, type Row } from '../db/database.js';
import { generateMac, usableMac } from '../network/mac.js';
import { checkMtu, pickBridge, usedBridges } from '../api/network.js';
import { nowXapi, EPOCH_XAPI } from '../time.js';
import { isDefaultTemplate } from './export-objects.js';
import { BERTH_XAPI_VERSION, type OvaDocument, type OvaObject } from './ova.js';

export interface ImportOptions {
  /** `full`: /import (new VDIs in `sr`, data follows); `metadata`: /import_metadata (disks exist). */
  mode: 'full' | 'metadata';
  /** full: the SR new VDIs go to (sr_id, or the pool's default SR: see importTargetSr). */
  sr?: string;
  /** restore=true: keep uuids and MACs ("preserve"). */
  restore?: boolean;
  /** force=true: skip failing checks (and, in apply, cleanup on failure), as xapi. */
  force?: boolean;
  /** metadata: `vdi:<src uuid or SCSIid>=<dst uuid or SCSIid>`, as key → value. */
  vdiMap?: Record<string, string>;
  /** The import task (recorded in current_operations and other_config.import_task). */
  task?: string;
}

export interface PlannedRecord {
  cls: string;
  /** The export id it comes from ('' for records the import adds, such as VIF_metrics). */
  id: string;
  ref: string;
  fields: Row;
}

/** A VDI that needs a new volume (full import): apply asks the SR's host for it. */
export interface PlannedVolume {
  id: string;
  ref: string;
  sr: string;
  uuid: string;
  virtualSize: number;
}

export interface PlannedDisk {
  /** Export id: the XVA's members for it are `<id>/<NNNNNNNN>`. */
  id: string;
  ref: string;
  virtualSize: number;
}

export interface ImportPlan {
  /** New records in creation order (refs chosen already). */
  creates: PlannedRecord[];
  /** Objects of the document that map to existing ones. */
  found: { cls: string; id: string; ref: string }[];
  /** Existing VMs a restore replaces (destroyed, with their VBDs and VIFs, before creating). */
  replaces: string[];
  volumes: PlannedVolume[];
  /** VDIs that receive disk data (full import), in lexicographic id order. */
  disks: PlannedDisk[];
  /** The task result: imported VMs (non-snapshots, unless only snapshots were imported). */
  vms: string[];
  /** Metadata import: other_config keys of existing VDIs set (or removed) from the file. */
  vdiSync: { vdi: string; key: string; value?: string }[];
  /** Every VM made or reused, for the end-of-import bookkeeping. */
  allVms: string[];
  force: boolean;
  task?: string;
}

const fail = (code: string, params: string[] = []) => new XenApiError(code, params);
const notFound = (id: string) => fail('IMPORT_ERROR_FAILED_TO_FIND_OBJECT', [id]);
const generic = (msg: string) => fail('IMPORT_ERROR_GENERIC', [msg]);

const isNullRef = (v: unknown) => v === undefined || v === null || v === '' || v === NULL_REF;

/** Importexport.assert_compatible: a file from a newer xapi is refused. */
export function assertCompatible(doc: OvaDocument): void {
  const { xapi_major: major, xapi_minor: minor } = doc.version;
  const ours = BERTH_XAPI_VERSION;
  if (ours.major < major || (ours.major === major && ours.minor < minor))
    throw fail('IMPORT_INCOMPATIBLE_VERSION');
}

/** The SR an /import writes to: `sr_id` if given, else the pool's default (DEFAULT_SR_NOT_FOUND). */
export function importTargetSr(db: Database, pool: string, srId?: string): string {
  if (srId) {
    if (!db.has('SR', srId)) throw fail('HANDLE_INVALID', ['SR', srId]);
    return srId;
  }
  const dflt = String(db.get('pool', pool)?.default_SR ?? NULL_REF);
  if (!db.has('SR', dflt)) throw fail('DEFAULT_SR_NOT_FOUND', [dflt]);
  return dflt;
}

/**
 * Fills absent fields with datamodel defaults (as xapi's generated *_of_rpc do); a field with no
 * default that is absent is the decoder failure xapi reports as IMPORT_ERROR_GENERIC.
 */
function complete(spec: ClassSpec, o: OvaObject): Row {
  const out: Row = {};
  for (const f of spec.fields) {
    if (Object.hasOwn(o.snapshot, f.name)) out[f.name] = o.snapshot[f.name];
    else if (f.default !== undefined) out[f.name] = structuredClone(f.default);
    else if (f.qualifier !== 'RO/runtime')
      throw generic(`${o.class} ${o.id}: Failed to find key '${f.name}' in ${o.class} record`);
  }
  return out;
}

/** Xapi_vm_helpers.fresh_genid: "" (no generation id) stays; anything else is renewed. */
function freshGenid(current: unknown): string {
  if (current === '') return '';
  const b = randomBytes(16);
  const mask = (1n << 63n) - 1n;
  return `${b.readBigUInt64BE(0) & mask}:${b.readBigUInt64BE(8) & mask}`;
}

/** other_config keys an existing VDI takes from the file (Xapi_globs.vdi_other_config_sync_keys). */
const VDI_SYNC_KEYS = ['config-drive'];

class Planner {
  readonly plan: ImportPlan;
  /** export id → ref (new or existing). */
  readonly table = new Map<string, string>();
  private readonly byId = new Map<string, OvaObject>();
  private readonly planned = new Map<string, PlannedRecord>();
  private readonly macsTaken = new Set<string>();
  private readonly bridges: Set<string>;

  constructor(
    readonly db: Database,
    readonly doc: OvaDocument,
    readonly opts: ImportOptions,
  ) {
    this.plan = {
      creates: [],
      found: [],
      replaces: [],
      volumes: [],
      disks: [],
      vdiSync: [],
      vms: [],
      allVms: [],
      force: Boolean(opts.force),
      task: opts.task,
    };
    for (const o of doc.objects) {
      if (typeof o.id !== 'string' || !o.id) throw generic('an object has no id');
      if (this.byId.has(o.id)) throw generic(`duplicate object id ${o.id}`);
      this.byId.set(o.id, o);
    }
    for (const v of db.all('VIF').values()) this.macsTaken.add(String(v.MAC).toLowerCase());
    this.bridges = usedBridges(db);
  }

  /** Import.find_in_export. */
  find(id: unknown): OvaObject {
    const o = typeof id === 'string' ? this.byId.get(id) : undefined;
    if (!o) throw notFound(String(id));
    return o;
  }

  /** Import.lookup: the ref an export id became. */
  lookup(id: unknown): string {
    const r = typeof id === 'string' ? this.table.get(id) : undefined;
    if (r === undefined) throw notFound(String(id));
    return r;
  }

  lookupOr(id: unknown, dflt = NULL_REF): string {
    return (typeof id === 'string' && this.table.get(id)) || dflt;
  }

  record(cls: string, o: OvaObject): Row {
    return complete(this.db.classSpec(cls), o);
  }

  create(cls: string, id: string, fields: Row, ref = newRef()): string {
    const rec = { cls, id, ref, fields };
    this.plan.creates.push(rec);
    this.planned.set(ref, rec);
    if (id) this.table.set(id, ref);
    return ref;
  }

  reuse(cls: string, id: string, ref: string) {
    this.plan.found.push({ cls, id, ref });
    this.table.set(id, ref);
  }

  /**
   * The fields a new record of `cls` keeps from an imported one: relation (derived) fields
   * dropped, refs that are export ids mapped, other refs kept only if they name an existing
   * object of the right class (never an internal ref of another pool).
   */
  sanitise(cls: string, rec: Row): Row {
    const spec = this.db.classSpec(cls);
    const derived = new Set(spec.relations.map((r) => r.field));
    const out: Row = {};
    for (const f of spec.fields) {
      if (derived.has(f.name) || !(f.name in rec)) continue;
      out[f.name] = this.mapRefs(f.type, rec[f.name]);
    }
    return out;
  }

  private refOk(cls: string, v: unknown): string | undefined {
    if (typeof v !== 'string' || isNullRef(v)) return undefined;
    const mapped = this.table.get(v);
    if (mapped !== undefined) return isNullRef(mapped) ? undefined : mapped;
    return this.db.has(cls, v) ? v : undefined;
  }

  private mapRefs(type: TypeDesc, v: unknown): unknown {
    switch (type.kind) {
      case 'ref':
        return this.refOk(type.cls, v) ?? NULL_REF;
      case 'set':
        if (!Array.isArray(v)) return [];
        if (type.of.kind === 'ref') {
          const cls = type.of.cls;
          return v.flatMap((x) => {
            const r = this.refOk(cls, x);
            return r ? [r] : [];
          });
        }
        return v.map((x) => this.mapRefs(type.of, x));
      case 'map': {
        if (v === null || typeof v !== 'object') return {};
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) {
          const key = type.key.kind === 'ref' ? this.refOk(type.key.cls, k) : k;
          if (key !== undefined) out[key] = this.mapRefs(type.value, x);
        }
        return out;
      }
      default:
        return v;
    }
  }

  of(cls: string): OvaObject[] {
    return this.doc.objects.filter((o) => o.class === cls);
  }

  // ---- handlers, in xapi's order ----

  hosts() {
    for (const o of this.of('host')) {
      // Only the uuid is read (Import.Host): the record need not be complete.
      const uuid = String(o.snapshot.uuid ?? '');
      this.reuse('host', o.id, this.db.refByUuid('host', uuid) ?? NULL_REF);
    }
  }

  srs() {
    for (const o of this.of('SR')) {
      const rec = this.record('SR', o);
      if (this.opts.mode === 'metadata') {
        const sr = this.db.refByUuid('SR', String(rec.uuid ?? ''));
        if (sr) this.reuse('SR', o.id, sr);
      } else if (rec.content_type !== 'iso') this.reuse('SR', o.id, this.opts.sr!);
    }
  }

  private scsiid(rec: Row): string | undefined {
    return (rec.sm_config as Record<string, string> | undefined)?.SCSIid;
  }

  vdis() {
    const { db } = this;
    for (const o of this.of('VDI')) {
      const rec = this.record('VDI', o);
      const originalSr = this.record('SR', this.find(rec.SR));
      if (originalSr.content_type === 'iso') {
        // Best effort: an ISO with the same location in any (non-udev) ISO library, else ejected.
        for (const [ref, v] of db.all('VDI')) {
          const sr = db.get('SR', String(v.SR));
          if (sr?.content_type === 'iso' && sr.type !== 'udev' && v.location === rec.location) {
            this.reuse('VDI', o.id, ref);
            break;
          }
        }
        continue;
      }
      if (this.opts.mode === 'full') {
        this.newVdi(o, rec);
        continue;
      }
      const found = this.existingVdi(rec);
      if (found) {
        this.reuse('VDI', o.id, found);
        const other = (rec.other_config ?? {}) as Record<string, string>;
        for (const key of VDI_SYNC_KEYS) this.plan.vdiSync.push({ vdi: found, key, value: other[key] });
        continue;
      }
      if (this.opts.force) continue;
      const sr = this.table.get(String(rec.SR));
      if (sr) throw fail('VDI_LOCATION_MISSING', [sr, String(rec.location ?? '')]);
      throw fail('VDI_CONTENT_ID_MISSING');
    }
  }

  /** Metadata import: the existing VDI an imported one stands for. */
  private existingVdi(rec: Row): string | undefined {
    const { db } = this;
    const map = this.opts.vdiMap ?? {};
    const all = [...db.all('VDI')];
    const byUuid = (u: string) => all.find(([, v]) => v.uuid === u)?.[0];
    const byScsi = (s: string) => all.find(([, v]) => this.scsiid(v) === s)?.[0];
    const own = this.scsiid(rec);
    const dest = Object.hasOwn(map, String(rec.uuid))
      ? map[String(rec.uuid)]
      : own !== undefined && Object.hasOwn(map, own)
        ? map[own]
        : undefined;
    if (dest !== undefined) {
      const hit = byUuid(dest) ?? byScsi(dest);
      if (hit) return hit;
    } else if (own !== undefined) {
      const hit = byScsi(own);
      if (hit) return hit;
    }
    const sr = this.table.get(String(rec.SR));
    if (sr) {
      const hit = all.find(([, v]) => v.SR === sr && v.location === rec.location)?.[0];
      if (hit) return hit;
    }
    const mapsTo = (rec.other_config as Record<string, string> | undefined)?.maps_to;
    return mapsTo && db.has('VDI', mapsTo) ? mapsTo : undefined;
  }

  private newVdi(o: OvaObject, rec: Row) {
    const sr = this.lookup(rec.SR);
    const size = Number(rec.virtual_size);
    if (!Number.isSafeInteger(size) || size < 0)
      throw generic(`VDI ${o.id}: bad virtual_size ${rec.virtual_size}`);
    const sm = { ...((rec.sm_config as Record<string, string>) ?? {}) };
    delete sm.import_task;
    if (this.opts.task) sm.import_task = this.opts.task;
    const type = String(rec.type ?? 'user');
    const uuid = randomUUID();
    const fields: Row = {
      name_label: rec.name_label,
      name_description: rec.name_description,
      type,
      sharable: Boolean(rec.sharable),
      read_only: Boolean(rec.read_only),
      other_config: this.mapRefs(
        { kind: 'map', key: { kind: 'string' }, value: { kind: 'string' } },
        rec.other_config,
      ),
      xenstore_data: rec.xenstore_data ?? {},
      sm_config: sm,
      tags: Array.isArray(rec.tags) ? rec.tags : [],
      uuid,
    };
    const ref = this.create('VDI', o.id, fields);
    this.plan.volumes.push({ id: o.id, ref, sr, uuid, virtualSize: size });
  }

  metrics(cls: 'VM_guest_metrics' | 'VM_metrics') {
    for (const o of this.of(cls)) {
      const fields = this.sanitise(cls, this.record(cls, o));
      this.create(cls, o.id, { ...fields, uuid: randomUUID() });
    }
  }

  vms() {
    const { db, opts } = this;
    for (const o of this.of('VM')) {
      const rec = this.record('VM', o);
      if (isDefaultTemplate(rec)) {
        const existing = [...db.all('VM')].find(([, v]) => v.name_label === rec.name_label)?.[0];
        if (existing) {
          this.reuse('VM', o.id, existing);
          this.plan.allVms.push(existing);
          continue;
        }
      }
      const existing = db.refByUuid('VM', String(rec.uuid ?? ''));
      if (opts.restore && existing) {
        const current = db.mustGet('VM', existing);
        if (current.power_state !== 'Halted') {
          if (opts.force) continue; // skipped: its devices then fail to find it, as in xapi
          throw fail('VM_BAD_POWER_STATE', [existing, 'halted', String(current.power_state).toLowerCase()]);
        }
        const have = Number(current.version ?? 0);
        const want = Number(rec.version ?? 0);
        if (have >= want && !opts.force)
          throw fail('VM_TO_IMPORT_IS_NOT_NEWER_VERSION', [existing, String(have), String(want)]);
        this.plan.replaces.push(existing);
      }
      this.newVm(o, rec);
    }
  }

  private newVm(o: OvaObject, rec: Row) {
    const { opts } = this;
    const other = { ...((rec.other_config as Record<string, string>) ?? {}) };
    delete other.grant_api_access;
    if (!opts.force && !opts.restore) {
      // Clean import: never a default template.
      rec.is_default_template = false;
      delete other.default_template;
    }
    if (!opts.restore) other.mac_seed = randomUUID();
    delete other.import_task;
    if (opts.task) other.import_task = opts.task;
    const fields = this.sanitise('VM', rec);
    fields.other_config = other;
    fields.uuid = opts.restore && rec.uuid ? rec.uuid : randomUUID();
    if (!rec.is_a_template) fields.generation_id = freshGenid(rec.generation_id);
    if (!Object.hasOwn(o.snapshot, 'parent')) {
      // Exported before ballooning: dynamic range and target at static_max.
      const max = Number(rec.memory_static_max);
      Object.assign(fields, {
        memory_static_min: Math.min(Number(rec.memory_static_min), max),
        memory_dynamic_min: max,
        memory_dynamic_max: max,
        memory_target: max,
      });
    }
    if (!Object.hasOwn(o.snapshot, 'has_vendor_device')) fields.has_vendor_device = false;
    // Import.get_vm_record: an unspecified domain type is derived from the boot policy.
    if ((rec.domain_type ?? 'unspecified') === 'unspecified')
      fields.domain_type = rec.HVM_boot_policy === '' ? 'pv' : 'hvm';
    fields.protection_policy = NULL_REF;
    fields.version = opts.restore ? Number(rec.version ?? 0) + 1 : 0;
    fields.appliance = NULL_REF;
    if (['0', '1', '2', '3'].includes(String(rec.ha_restart_priority))) {
      fields.ha_restart_priority = 'restart';
      fields.order = Number(rec.ha_restart_priority);
    }
    fields.power_state = 'Halted';
    fields.suspend_VDI = NULL_REF;
    if (rec.power_state === 'Suspended') {
      const vdi = this.table.get(String(rec.suspend_VDI));
      if (vdi) {
        fields.power_state = 'Suspended';
        fields.suspend_VDI = vdi;
      } else if (!opts.force) throw notFound(String(rec.suspend_VDI));
    }
    // A halted (or suspended) VM runs nowhere: resident_on is not carried over.
    fields.resident_on = NULL_REF;
    fields.affinity = this.lookupOr(rec.affinity);
    if (!this.db.has('host', String(fields.affinity))) fields.affinity = NULL_REF;
    fields.domid = -1;
    fields.current_operations = opts.force || !opts.task ? {} : { [opts.task]: 'import' };
    fields.allowed_operations = [];
    // Export ids for now; links() resolves them once every VM has a ref.
    fields.snapshot_of = rec.snapshot_of;
    fields.parent = rec.parent;
    fields.is_a_snapshot = Boolean(rec.is_a_snapshot);
    fields.snapshot_time = rec.snapshot_time ?? EPOCH_XAPI;
    const vmm = this.table.get(String(rec.metrics));
    fields.metrics = vmm ?? this.newVmMetrics();
    fields.guest_metrics = this.lookupOr(rec.guest_metrics);
    const ref = this.create('VM', o.id, fields);
    this.plan.allVms.push(ref);
  }

  private newVmMetrics(): string {
    return this.create('VM_metrics', '', {
      memory_actual: 0,
      VCPUs_number: 0,
      install_time: nowXapi(),
      last_updated: nowXapi(),
      current_domain_type: 'unspecified',
    });
  }

  networks() {
    const { db } = this;
    for (const o of this.of('network')) {
      const rec = this.record('network', o);
      const all = [...db.all('network')];
      const hit =
        all.find(([, n]) => n.name_label === rec.name_label)?.[0] ??
        all.find(([, n]) => rec.bridge && n.bridge === rec.bridge)?.[0];
      if (hit) {
        this.reuse('network', o.id, hit);
        continue;
      }
      const fields = this.sanitise('network', rec);
      const bridge = pickBridge(this.bridges);
      this.bridges.add(bridge);
      const other = { ...((rec.other_config as Record<string, string>) ?? {}) };
      if (this.opts.task) other.import_task = this.opts.task;
      this.create('network', o.id, {
        ...fields,
        uuid: randomUUID(),
        bridge,
        MTU: checkMtu(rec.MTU ?? 1500),
        managed: true,
        other_config: other,
        current_operations: {},
        allowed_operations: [],
      });
    }
  }

  /** The new VM of a device record (Failed_to_find_object when it has none). */
  private vmOf(rec: Row): string {
    this.find(rec.VM);
    return this.lookup(rec.VM);
  }

  /** The power state the new VM will have (a reused VM: its current one). */
  private plannedPowerState(vm: string): string {
    const p = this.planned.get(vm);
    return String(p ? p.fields.power_state : this.db.get('VM', vm)?.power_state);
  }

  /**
   * An existing device with this uuid that outlives the import: those of a VM the restore
   * replaces go with it (xapi destroys that VM before its devices are looked up).
   */
  private survivor(cls: 'VBD' | 'VIF', uuid: unknown): string | undefined {
    const ref = this.db.refByUuid(cls, String(uuid ?? ''));
    if (!ref) return undefined;
    return this.plan.replaces.includes(String(this.db.get(cls, ref)?.VM)) ? undefined : ref;
  }

  vbds() {
    const { opts } = this;
    for (const o of this.of('VBD')) {
      const rec = this.record('VBD', o);
      const same = opts.restore ? this.survivor('VBD', rec.uuid) : undefined;
      if (same) {
        this.reuse('VBD', o.id, same);
        continue;
      }
      const vm = this.vmOf(rec);
      const haveVdi =
        typeof rec.VDI === 'string' && this.table.has(rec.VDI) && !isNullRef(this.table.get(rec.VDI));
      // Every Berth VM has a QEMU: an attached CD whose ISO is missing is ejected.
      if (rec.currently_attached && !haveVdi && rec.type !== 'CD')
        throw fail('IMPORT_ERROR_ATTACHED_DISKS_NOT_FOUND');
      const userdevice = String(rec.userdevice);
      if (!validUserdevice(userdevice)) throw fail('INVALID_DEVICE', [userdevice]);
      const fields = this.sanitise('VBD', rec);
      if (!haveVdi) {
        if (rec.type === 'Disk') continue; // cannot have an empty disk: omitted
        Object.assign(fields, { VDI: NULL_REF, empty: true });
      } else Object.assign(fields, { VDI: this.table.get(String(rec.VDI)), empty: false });
      const suspended = this.plannedPowerState(vm) === 'Suspended';
      this.create('VBD', o.id, {
        ...fields,
        VM: vm,
        uuid: opts.restore && rec.uuid ? rec.uuid : randomUUID(),
        device: '',
        currently_attached: suspended && Boolean(rec.currently_attached),
        current_operations: {},
        // As VBD.create sets them.
        allowed_operations:
          rec.type === 'CD' ? ['attach', 'eject', 'insert', 'plug', 'unplug'] : ['attach', 'plug', 'unplug'],
        metrics: NULL_REF,
      });
    }
  }

  vifs() {
    const { db, opts } = this;
    for (const o of this.of('VIF')) {
      const rec = this.record('VIF', o);
      const same = opts.restore ? this.survivor('VIF', rec.uuid) : undefined;
      if (same) {
        this.reuse('VIF', o.id, same);
        continue;
      }
      const vm = this.vmOf(rec);
      const network = this.lookup(rec.network);
      if (isNullRef(network)) throw notFound(String(rec.network));
      const device = String(rec.device);
      if (!validVifDevice(device)) throw fail('INVALID_DEVICE', [device]);
      let mac = opts.restore ? usableMac(String(rec.MAC ?? '')) : undefined;
      if (opts.restore && mac === undefined) throw fail('MAC_INVALID', [String(rec.MAC)]);
      if (mac === undefined) {
        const vmRow = this.planned.get(vm)?.fields ?? db.mustGet('VM', vm);
        const seed = String((vmRow.other_config as Record<string, string>)?.mac_seed ?? vmRow.uuid);
        mac = generateMac(seed, device, this.macsTaken);
      }
      this.macsTaken.add(mac.toLowerCase());
      const other = { ...((rec.other_config as Record<string, string>) ?? {}) };
      delete other.maps_to;
      const metrics = this.create('VIF_metrics', '', {
        io_read_kbs: 0,
        io_write_kbs: 0,
        last_updated: nowXapi(),
      });
      this.create('VIF', o.id, {
        ...this.sanitise('VIF', rec),
        VM: vm,
        network,
        MAC: mac,
        MAC_autogenerated: opts.restore ? Boolean(rec.MAC_autogenerated) : true,
        other_config: other,
        uuid: opts.restore && rec.uuid ? rec.uuid : randomUUID(),
        currently_attached: false,
        metrics,
        current_operations: {},
        allowed_operations: ['attach'],
      });
    }
  }

  vtpms() {
    const { db, opts } = this;
    for (const o of this.of('VTPM')) {
      const s = o.snapshot;
      const uuid = String(s["vTPM'_uuid"] ?? '');
      // (One of a VM this restore replaces goes with that VM, as VM.destroy takes its vTPMs.)
      const taken = opts.restore ? db.refByUuid('VTPM', uuid) : undefined;
      if (taken && !this.plan.replaces.includes(String(db.get('VTPM', taken)?.VM)))
        throw generic(`A VTPM with UUID ${uuid} already exists`);
      const vm = this.lookup(s["vTPM'_VM"]);
      this.create('VTPM', o.id, {
        VM: vm,
        uuid: opts.restore && uuid ? uuid : randomUUID(),
        is_unique: Boolean(s["vTPM'_is_unique"]),
        is_protected: Boolean(s["vTPM'_is_protected"]),
      });
    }
  }

  /** Import.update_snapshot_and_parent_links: export ids in snapshot_of/parent become refs. */
  links() {
    for (const rec of this.plan.creates) {
      if (rec.cls !== 'VM') continue;
      const f = rec.fields;
      const snapOf = f.snapshot_of;
      if (f.is_a_snapshot && !isNullRef(snapOf)) {
        const r = typeof snapOf === 'string' ? this.table.get(snapOf) : undefined;
        if (r !== undefined) f.snapshot_of = r;
        else if (typeof snapOf === 'string' && this.db.has('VM', snapOf)) f.snapshot_of = snapOf;
        else throw notFound(String(snapOf));
      } else f.snapshot_of = NULL_REF;
      const parent = typeof f.parent === 'string' ? this.table.get(f.parent) : undefined;
      f.parent =
        parent ?? (typeof f.parent === 'string' && this.db.has('VM', f.parent) ? f.parent : NULL_REF);
    }
  }

  /** Import.non_cdrom_vdis: the new VDIs data is streamed into, in lexicographic id order. */
  disks() {
    const streamed = new Set<string>();
    for (const o of this.of('VBD')) {
      const rec = o.snapshot;
      if (rec.type === 'CD' || typeof rec.VDI !== 'string') continue;
      const vdi = this.byId.get(rec.VDI);
      if (!vdi) continue;
      const sr = this.byId.get(String(vdi.snapshot.SR));
      if (sr?.snapshot.content_type === 'iso') continue;
      streamed.add(rec.VDI);
    }
    for (const o of this.of('VDI')) if (o.snapshot.type === 'suspend') streamed.add(o.id);
    const byId = new Map(this.plan.volumes.map((v) => [v.id, v]));
    this.plan.disks = [...streamed]
      .filter((id) => byId.has(id))
      .sort()
      .map((id) => ({ id, ref: byId.get(id)!.ref, virtualSize: byId.get(id)!.virtualSize }));
  }

  result() {
    const isSnap = (vm: string) =>
      Boolean(this.planned.get(vm)?.fields.is_a_snapshot ?? this.db.get('VM', vm)?.is_a_snapshot);
    const all = [...new Set(this.plan.allVms)];
    const plain = all.filter((v) => !isSnap(v));
    this.plan.allVms = all;
    this.plan.vms = plain.length ? plain : all;
  }
}

/**
 * Import.assert_can_restore_backup: with restore=true, a VM of the file may share a mac_seed with
 * an existing VM only if they are the same VM (or a snapshot of it): else DUPLICATE_MAC_SEED.
 */
function assertCanRestore(db: Database, doc: OvaDocument) {
  const seedOf = (r: Row) => (r.other_config as Record<string, string> | undefined)?.mac_seed;
  const fileVms = doc.objects.filter((o) => o.class === 'VM');
  const fileUuidOf = (ref: unknown): string | undefined => {
    if (typeof ref !== 'string') return undefined;
    if (ref.startsWith('Ref:')) return fileVms.find((o) => o.id === ref)?.snapshot.uuid as string | undefined;
    const row = db.get('VM', ref);
    return row ? String(row.uuid) : undefined;
  };
  const existingUuidOf = (ref: unknown) => (typeof ref === 'string' ? db.get('VM', ref)?.uuid : undefined);
  for (const o of fileVms) {
    const v = o.snapshot;
    const seed = seedOf(v);
    if (!seed) continue;
    for (const [, e] of db.all('VM')) {
      if (seedOf(e) !== seed) continue;
      const a = Boolean(v.is_a_snapshot);
      const b = Boolean(e.is_a_snapshot);
      const ok =
        !a && !b
          ? v.uuid === e.uuid
          : a && b
            ? fileUuidOf(v.snapshot_of) !== undefined &&
              fileUuidOf(v.snapshot_of) === existingUuidOf(e.snapshot_of)
            : a
              ? fileUuidOf(v.snapshot_of) === e.uuid
              : existingUuidOf(e.snapshot_of) === v.uuid;
      if (!ok) throw fail('DUPLICATE_MAC_SEED', [seed]);
    }
  }
}

/**
 * Plans the import of an ova.xml's objects (Import.handle_all without the writes). Throws xapi's
 * errors; a dry run returns this plan and stops.
 */
export function ovaObjectsToPlan(db: Database, doc: OvaDocument, opts: ImportOptions): ImportPlan {
  assertCompatible(doc);
  if (opts.mode === 'full' && !opts.sr) throw fail('DEFAULT_SR_NOT_FOUND', [NULL_REF]);
  if (opts.mode === 'full' && db.get('SR', opts.sr!)?.content_type === 'iso')
    throw fail('SR_OPERATION_NOT_SUPPORTED');
  if (opts.restore) assertCanRestore(db, doc);
  const p = new Planner(db, doc, opts);
  p.hosts();
  p.srs();
  p.vdis();
  p.metrics('VM_guest_metrics');
  p.metrics('VM_metrics');
  p.vms();
  p.networks();
  p.vbds();
  p.vifs();
  p.vtpms();
  p.links();
  p.disks();
  p.result();
  return p.plan;
}
