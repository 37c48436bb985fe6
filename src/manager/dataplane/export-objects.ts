// What xapi's Export module writes into ova.xml for a set of VMs, read from Berth's database:
// the graph walk (Export.update_table), the per-class rewrites (Export.make_*) and the disks an
// XVA carries after ova.xml. Pure over the database (reads only).
//
// Semantics follow xapi (ocaml/xapi/export.ml):
// * /export (one VM, no snapshot metadata): is_a_snapshot false, snapshot_of/parent null,
//   snapshots [], power_state Halted unless preserve_power_state, VIF/VBD currently_attached
//   false unless preserve_power_state.
// * /export_metadata: snapshot metadata kept and the VM's snapshots (and its parent) exported
//   too when export_snapshots; preserve_power_state true; optional VHD parent VDIs.
// * refs to exported objects become their `Ref:<n>`, every other ref OpaqueRef:NULL, ref sets
//   are filtered (Berth does this for every ref field; xapi leaves a few untouched fields with
//   internal refs, which no importer reads: see docs/decisions.md).
import { NULL_REF, type TypeDesc } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { berthOvaVersion as xvaOvaVersion } from '../../shared/xva/ova-xml.js';
import type { Database, Row } from '../db/database.js';
import { EPOCH_XAPI } from '../time.js';
import { OVA_CLASSES, type OvaDocument, type OvaObject, type OvaVersion } from './ova.js';

/** Devicetype.t of xapi: what `excluded_device_types` may name. */
export const DEVICE_TYPES = ['vif', 'vbd', 'vgpu', 'vtpm', 'pci', 'vusb'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

export interface ExportOptions {
  vms: string[];
  /** Keep is_a_snapshot/snapshot_of/… and walk into the VMs' snapshots and parents. */
  withSnapshotMetadata: boolean;
  preservePowerState: boolean;
  /** Follow sm_config["vhd-parent"] chains of exported VDIs. */
  includeVhdParents?: boolean;
  excludedDevices?: readonly DeviceType[];
}

/** A disk an XVA carries after ova.xml: its members are `<id>/<NNNNNNNN>`. */
export interface ExportDisk {
  id: string;
  vdi: string;
  virtualSize: number;
}

export interface VmExport {
  doc: OvaDocument;
  /** Non-CD, non-ISO disks (and a kept suspend image), in lexicographic id order. */
  disks: ExportDisk[];
  /** Internal ref → export id. */
  table: Map<string, string>;
}

/** Parses `excluded_device_types` (comma list, "" = none); an unknown name is INVALID_VALUE. */
export function parseDeviceTypes(s: string | undefined): DeviceType[] {
  if (!s) return [];
  return s.split(',').map((x) => {
    const t = x.trim().toLowerCase();
    if (!(DEVICE_TYPES as readonly string[]).includes(t))
      throw new XenApiError('INVALID_VALUE', ['excluded_device_types', x]);
    return t as DeviceType;
  });
}

/** The version struct of Berth's exports: shared/xva's (xapi 1.0, today's date, export_vsn 2). */
export function berthOvaVersion(): OvaVersion {
  return xvaOvaVersion();
}

const isRef = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== NULL_REF;
const refs = (v: unknown): string[] => (Array.isArray(v) ? v.filter(isRef) : []);

/** Export.update_table: every object the export of `vm` includes gets the next `Ref:<n>`. */
function walk(db: Database, opts: ExportOptions): Map<string, string> {
  const table = new Map<string, string>();
  const excluded = new Set(opts.excludedDevices ?? []);
  const add = (r: unknown) => {
    if (isRef(r) && db.classOfRef(r) && !table.has(r)) table.set(r, `Ref:${table.size}`);
  };
  const addVdi = (v: unknown) => {
    if (!isRef(v)) return;
    const row = db.get('VDI', v);
    if (!row) return;
    add(v);
    add(row.SR);
    if (!opts.includeVhdParents) return;
    const parentUuid = (row.sm_config as Record<string, string> | undefined)?.['vhd-parent'];
    const parent = parentUuid ? db.refByUuid('VDI', parentUuid) : undefined;
    if (parent && !table.has(parent)) addVdi(parent);
  };
  const addVm = (vm: string, includeSnapshots: boolean) => {
    const rec = db.get('VM', vm);
    if (!rec || table.has(vm)) return;
    add(vm);
    if (!excluded.has('vif'))
      for (const vif of refs(rec.VIFs)) {
        const row = db.get('VIF', vif);
        if (!row) continue;
        add(vif);
        add(row.network);
      }
    if (!excluded.has('vbd'))
      for (const vbd of refs(rec.VBDs)) {
        const row = db.get('VBD', vbd);
        if (!row) continue;
        add(vbd);
        if (!row.empty) addVdi(row.VDI);
      }
    if (!excluded.has('vgpu'))
      for (const vgpu of refs(rec.VGPUs)) {
        const row = db.get('VGPU', vgpu);
        if (!row) continue;
        add(vgpu);
        add(row.type);
        add(row.GPU_group);
      }
    const vifs = new Set(refs(rec.VIFs));
    if (db.model.classes.PVS_proxy?.inDb)
      for (const [ref, p] of db.all('PVS_proxy'))
        if (vifs.has(String(p.VIF))) {
          add(ref);
          add(p.site);
        }
    if (!excluded.has('vtpm')) for (const v of refs(rec.VTPMs)) if (db.has('VTPM', v)) add(v);
    if (includeSnapshots) for (const s of refs(rec.snapshots)) addVm(s, false);
    if (opts.preservePowerState && rec.power_state === 'Suspended') addVdi(rec.suspend_VDI);
    add(rec.metrics);
    add(rec.guest_metrics);
    add(rec.resident_on);
    add(rec.affinity);
    if (includeSnapshots && isRef(rec.parent) && db.has('VM', rec.parent)) addVm(rec.parent, false);
  };
  for (const vm of opts.vms) addVm(vm, opts.withSnapshotMetadata);
  return table;
}

/** Rewrites every ref inside a value of `type` through the table (else NULL; sets filtered). */
function mapRefs(type: TypeDesc, v: unknown, table: Map<string, string>): unknown {
  switch (type.kind) {
    case 'ref':
      return (isRef(v) && table.get(v)) || NULL_REF;
    case 'set':
      if (!Array.isArray(v)) return [];
      if (type.of.kind === 'ref') return v.flatMap((x) => (isRef(x) && table.has(x) ? [table.get(x)!] : []));
      return v.map((x) => mapRefs(type.of, x, table));
    case 'map': {
      if (v === null || typeof v !== 'object') return {};
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const key = type.key.kind === 'ref' ? (table.get(k) ?? undefined) : k;
        if (key !== undefined) out[key] = mapRefs(type.value, x, table);
      }
      return out;
    }
    case 'option':
      return v === undefined || v === null ? v : mapRefs(type.of, v, table);
    default:
      return v === undefined ? undefined : structuredClone(v);
  }
}

/** A row's exported fields (the class's get_record layout) with refs rewritten. */
function exportedRecord(db: Database, cls: string, row: Row, table: Map<string, string>): Row {
  const out: Row = {};
  for (const f of db.classSpec(cls).fields) out[f.name] = mapRefs(f.type, row[f.name], table);
  return out;
}

/** Export.make_host: only identity and a few links survive. */
const HOST_CLEARED: Row = {
  PIFs: [],
  PBDs: [],
  PGPUs: [],
  PCIs: [],
  host_CPUs: [],
  license_params: {},
  blobs: {},
  external_auth_type: '',
  external_auth_service_name: '',
  external_auth_configuration: {},
  metrics: NULL_REF,
  patches: [],
  crashdumps: [],
  logging: {},
  supported_bootloaders: [],
  cpu_configuration: {},
  other_config: {},
  capabilities: [],
  software_version: {},
  sched_policy: '',
  ha_statefiles: [],
  ha_network_peers: [],
  tags: [],
};

function rewrite(cls: string, rec: Row, row: Row, opts: ExportOptions, table: Map<string, string>): Row {
  const keep = opts.preservePowerState;
  const meta = opts.withSnapshotMetadata;
  const lookup = (r: unknown) => (isRef(r) && table.get(r)) || NULL_REF;
  switch (cls) {
    case 'host':
      return { ...rec, ...HOST_CLEARED };
    case 'VM':
      return {
        ...rec,
        power_state: keep ? row.power_state : 'Halted',
        suspend_VDI: keep ? lookup(row.suspend_VDI) : NULL_REF,
        is_a_snapshot: meta ? Boolean(row.is_a_snapshot) : false,
        snapshot_of: meta ? lookup(row.snapshot_of) : NULL_REF,
        snapshots: meta ? rec.snapshots : [],
        snapshot_time: meta ? row.snapshot_time : EPOCH_XAPI,
        transportable_snapshot_id: meta ? row.transportable_snapshot_id : '',
        parent: meta ? lookup(row.parent) : NULL_REF,
        current_operations: {},
        allowed_operations: [],
        crash_dumps: [],
        consoles: [],
        protection_policy: NULL_REF,
        blobs: {},
      };
    case 'VIF':
    case 'VBD':
      return {
        ...rec,
        currently_attached: keep ? Boolean(row.currently_attached) : false,
        metrics: NULL_REF,
        current_operations: {},
        allowed_operations: [],
      };
    case 'network':
      return { ...rec, PIFs: [], current_operations: {}, allowed_operations: [] };
    case 'VDI':
      return { ...rec, crash_dumps: [], current_operations: {}, allowed_operations: [] };
    case 'SR':
      return { ...rec, PBDs: [], current_operations: {}, allowed_operations: [] };
    case 'VGPU':
      return { ...rec, currently_attached: keep ? Boolean(row.currently_attached) : false };
    case 'GPU_group':
      return { ...rec, PGPUs: [] };
    case 'PVS_proxy':
      return { ...rec, currently_attached: false };
    case 'PVS_site':
      return { ...rec, cache_storage: [], servers: [] };
    default:
      return rec;
  }
}

/** Export.make_vtpm: xapi's vtpm' struct. Berth keeps no vTPM state yet: content is "". */
function vtpmObject(row: Row, table: Map<string, string>): Row {
  return {
    "vTPM'_VM": (isRef(row.VM) && table.get(row.VM)) || NULL_REF,
    "vTPM'_uuid": String(row.uuid ?? ''),
    "vTPM'_is_unique": Boolean(row.is_unique),
    "vTPM'_is_protected": Boolean(row.is_protected),
    "vTPM'_content": String(row.content ?? ''),
  };
}

/** Export.vm_metadata: the objects of ova.xml for `opts.vms`, and the disks that follow it. */
export function vmToOvaObjects(db: Database, opts: ExportOptions): VmExport {
  const table = walk(db, opts);
  const objects: OvaObject[] = [];
  for (const cls of OVA_CLASSES) {
    const spec = db.model.classes[cls];
    if (!spec?.inDb) continue;
    for (const [ref, row] of db.all(cls)) {
      const id = table.get(ref);
      if (id === undefined) continue;
      const snapshot =
        cls === 'VTPM'
          ? vtpmObject(row, table)
          : rewrite(cls, exportedRecord(db, cls, row, table), row, opts, table);
      objects.push({ class: cls, id, snapshot });
    }
  }
  return { doc: { version: berthOvaVersion(), objects }, disks: exportDisks(db, opts, table), table };
}

/**
 * Export.export's disk list: the VDIs of the VMs' non-CD VBDs (plus a suspended VM's suspend
 * image when its power state is kept) whose SR is not an ISO library, sorted by id as strings.
 */
function exportDisks(db: Database, opts: ExportOptions, table: Map<string, string>): ExportDisk[] {
  const seen = new Set<string>();
  const out: ExportDisk[] = [];
  for (const vm of opts.vms) {
    const rec = db.get('VM', vm);
    if (!rec) continue;
    const vdis: unknown[] = [];
    if (opts.preservePowerState && rec.power_state === 'Suspended') vdis.push(rec.suspend_VDI);
    for (const vbd of refs(rec.VBDs)) {
      const b = db.get('VBD', vbd);
      if (b && b.type !== 'CD' && !b.empty) vdis.push(b.VDI);
    }
    for (const v of vdis) {
      if (!isRef(v) || seen.has(v)) continue;
      const row = db.get('VDI', v);
      const id = table.get(v);
      if (!row || id === undefined) continue;
      if (db.get('SR', String(row.SR))?.content_type === 'iso') continue;
      seen.add(v);
      out.push({ id, vdi: v, virtualSize: Number(row.virtual_size) });
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A template xapi ships (never part of `all=true` metadata exports). */
export function isDefaultTemplate(vm: Row): boolean {
  const other = (vm.other_config ?? {}) as Record<string, string>;
  return Boolean(vm.is_default_template) || (Boolean(vm.is_a_template) && other.default_template === 'true');
}

/** The VMs `/export_metadata?all=true` covers: all but default templates (dom0 unless excluded). */
export function allMetadataVms(db: Database, includeDom0: boolean): string[] {
  const out: string[] = [];
  for (const [ref, row] of db.all('VM')) {
    if (isDefaultTemplate(row)) continue;
    if (row.is_control_domain && !includeDom0) continue;
    out.push(ref);
  }
  return out;
}
