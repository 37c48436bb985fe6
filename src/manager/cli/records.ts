// CLI records: xapi's per-class field lists (hyphenated names, order, RO/RW/set/map modes) bound
// to live XenAPI records. Values are rendered as xapi's CLI prints them; setters call the
// generated XenAPI setters. Fields computed by xapi from elsewhere are not carried over.
import { MODEL } from '../../shared/datamodel/generated/model.js';
import type { ClassSpec, FieldSpec } from '../../shared/datamodel/model-types.js';
import type { TypeDesc } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { parseSize } from './args.js';
import { CliError } from './errors.js';
import { XAPI_RECORDS } from './data/xapi-records.js';
import type { CliApi, FieldFact } from './types.js';

export type Row = Record<string, unknown>;
const NULL_REF = 'OpaqueRef:NULL';

/** A generic CLI class: its name on the command line, the API class and the records.ml list. */
export interface CliClass {
  name: string;
  cls: string;
  record: string;
  /** Filters always applied by `<name>-list`. */
  filters: [string, string][];
  /** Default `-list` columns. */
  columns: string[];
  /** Which records `<name>-list` and selectors see at all (xapi's get_all_records_where). */
  where?: (row: Row) => boolean;
}

const c = (
  name: string,
  cls: string,
  record: string,
  columns: string[],
  filters: [string, string][] = [],
) => ({
  name,
  cls,
  record,
  columns,
  filters,
});

const hasSubroles = (row: Row) => Array.isArray(row.subroles) && row.subroles.length > 0;

/** The generated classes (cli_operations.ml gen_cmds), with their default list columns. */
export const CLI_CLASSES: CliClass[] = [
  c('pool', 'pool', 'pool', ['uuid', 'name-label', 'name-description', 'master', 'default-SR']),
  c('pif', 'PIF', 'pif', [
    'uuid',
    'device',
    'VLAN',
    'MAC',
    'network-uuid',
    'currently-attached',
    'host-uuid',
  ]),
  c('bond', 'Bond', 'bond', ['uuid', 'master', 'slaves']),
  c('vlan', 'VLAN', 'vlan', ['uuid', 'tagged-PIF', 'untagged-PIF', 'tag']),
  c('tunnel', 'tunnel', 'tunnel', ['uuid', 'transport-PIF', 'access-PIF', 'status']),
  c('vif', 'VIF', 'vif', ['uuid', 'device', 'vm-uuid', 'network-uuid']),
  c('network', 'network', 'net', ['uuid', 'name-label', 'name-description', 'bridge']),
  c('console', 'console', 'console', ['uuid', 'vm-uuid', 'vm-name-label', 'protocol', 'location']),
  c('vm', 'VM', 'vm', ['name-label', 'uuid', 'power-state'], [['is-a-template', 'false']]),
  c(
    'template',
    'VM',
    'vm',
    ['name-label', 'name-description', 'uuid'],
    [
      ['is-a-template', 'true'],
      ['is-a-snapshot', 'false'],
    ],
  ),
  c(
    'snapshot',
    'VM',
    'vm',
    ['name-label', 'name-description', 'uuid', 'snapshot_of', 'snapshot_time', 'is-vmss-snapshot'],
    [['is-a-snapshot', 'true']],
  ),
  c('host', 'host', 'host', ['uuid', 'name-label', 'name-description']),
  c('host-cpu', 'host_cpu', 'host_cpu', ['uuid', 'number', 'vendor', 'speed', 'utilisation']),
  c('vdi', 'VDI', 'vdi', [
    'uuid',
    'name-label',
    'name-description',
    'virtual-size',
    'read-only',
    'sharable',
    'sr-uuid',
  ]),
  c('vbd', 'VBD', 'vbd', ['uuid', 'vm-uuid', 'vm-name-label', 'vdi-uuid', 'device', 'empty']),
  c('sr', 'SR', 'sr', ['uuid', 'name-label', 'name-description', 'host', 'type', 'content-type']),
  c('sm', 'SM', 'sm', [
    'uuid',
    'type',
    'name-label',
    'name-description',
    'vendor',
    'copyright',
    'configuration',
  ]),
  c('pbd', 'PBD', 'pbd', ['uuid', 'host-uuid', 'sr-uuid', 'device-config', 'currently-attached']),
  c('task', 'task', 'task', ['uuid', 'name-label', 'name-description', 'status', 'progress']),
  c('subject', 'subject', 'subject', ['uuid', 'subject-identifier', 'other-config', 'roles']),
  // xapi's role-list asks for `subroles<>[]`: the 6 roles, not the ~2,000 permissions.
  { ...c('role', 'role', 'role', ['uuid', 'name', 'description', 'subroles']), where: hasSubroles },
  c('message', 'message', 'message', []),
  c('secret', 'secret', 'secret', []),
];

export const cliClass = (name: string) => CLI_CLASSES.find((k) => k.name === name);

/** How a few enums are spelt by xapi's CLI (record_util.ml); others print as on the wire. */
const ENUM_TEXT: Record<string, Record<string, string>> = {
  vm_power_state: { Halted: 'halted', Paused: 'paused', Running: 'running', Suspended: 'suspended' },
  on_normal_exit: { destroy: 'Destroy', restart: 'Restart' },
  on_crash_behaviour: {
    destroy: 'Destroy',
    coredump_and_destroy: 'Core dump and destroy',
    restart: 'Restart',
    coredump_and_restart: 'Core dump and restart',
    preserve: 'Preserve',
    rename_restart: 'Rename restart',
  },
  on_softreboot_behavior: {
    destroy: 'Destroy',
    restart: 'Restart',
    preserve: 'Preserve',
    soft_reboot: 'Soft reboot',
  },
  vdi_type: {
    system: 'System',
    user: 'User',
    ephemeral: 'Ephemeral',
    suspend: 'Suspend',
    crashdump: 'Crashdump',
    ha_statefile: 'HA statefile',
    metadata: 'Metadata',
    redo_log: 'Redo log',
    rrd: 'rrd',
    pvs_cache: 'PVS cache',
    cbt_metadata: 'CBT metadata',
  },
  console_protocol: { vt100: 'VT100', rfb: 'RFB', rdp: 'RDP' },
  bond_mode: { 'balance-slb': 'balance-slb', 'active-backup': 'active-backup', lacp: 'lacp' },
};

export function enumText(name: string, v: string): string {
  return ENUM_TEXT[name]?.[v] ?? v;
}

/** Parses a CLI spelling of an enum value (wire or CLI spelling, case-insensitive). */
export function parseEnum(field: string, name: string, text: string): string {
  const values = MODEL.enums[name] ?? [];
  const l = text.toLowerCase();
  const hit = values.find((v) => v.toLowerCase() === l || enumText(name, v).toLowerCase() === l);
  if (hit === undefined)
    throw new CliError(
      `Failed to parse parameter '${field}': expected one of ${values.join(', ')}, got ${text}`,
    );
  return hit;
}

/** Looks up uuids and name-labels of refs for display, with a per-command cache. */
export class RefResolver {
  private readonly cache = new Map<string, Row | null>();
  constructor(
    private readonly api: CliApi,
    private readonly session: string,
  ) {}

  /** A resolver with an empty cache (for re-reading objects that change). */
  fresh(): RefResolver {
    return new RefResolver(this.api, this.session);
  }

  async record(cls: string, ref: string): Promise<Row | null> {
    if (!ref || ref === NULL_REF) return null;
    const key = `${cls}/${ref}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    let row: Row | null = null;
    try {
      row = (await this.api.call(this.session, `${cls}.get_record`, [ref])) as Row;
    } catch (e) {
      if (!(e instanceof XenApiError) || e.code !== 'HANDLE_INVALID') throw e;
    }
    this.cache.set(key, row);
    return row;
  }

  /** Seeds the cache with records already fetched (get_all_records). */
  seed(cls: string, rows: Record<string, Row>) {
    for (const [ref, row] of Object.entries(rows)) this.cache.set(`${cls}/${ref}`, row);
  }

  async uuid(cls: string, ref: string): Promise<string> {
    const r = await this.record(cls, ref);
    return r ? String(r.uuid) : '<not in database>';
  }

  async name(cls: string, ref: string): Promise<string> {
    const r = await this.record(cls, ref);
    return r ? String(r.name_label ?? '') : '<not in database>';
  }

  /** A ref of unknown class (error parameters): `uuid (name)` when some class knows it. */
  async describe(ref: string): Promise<string> {
    if (!ref.startsWith('OpaqueRef:') || ref === NULL_REF) return ref;
    for (const cls of ['VM', 'VDI', 'SR', 'host', 'VBD', 'VIF', 'network', 'PIF', 'PBD', 'pool', 'task']) {
      const r = await this.record(cls, ref).catch(() => null);
      if (r) return r.name_label !== undefined ? `${r.uuid} (${r.name_label})` : String(r.uuid);
    }
    return ref;
  }
}

/** A field of one bound record, as the generic commands use it. */
export interface CliField {
  name: string;
  /** ` RO`, ` RW`, `SRO`, `SRW`, `MRO`, `MRW`. */
  mode: string;
  hidden: boolean;
  expensive: boolean;
  deprecated: boolean;
  caseInsensitive: boolean;
  get(): Promise<string>;
  getSet?(): Promise<string[]>;
  getMap?(): Promise<[string, string][]>;
  set?(v: string): Promise<void>;
  addToSet?(v: string): Promise<void>;
  removeFromSet?(v: string): Promise<void>;
  addToMap?(k: string, v: string): Promise<void>;
  removeFromMap?(k: string): Promise<void>;
}

const fieldSpec = (cls: ClassSpec | undefined, name: string | undefined) =>
  name === undefined ? undefined : cls?.fields.find((f) => f.name === name);

/** Message wire name by implicit kind for a field (setter, map/set add and remove). */
function implicitMessage(cls: ClassSpec, kind: string, field: string): string | undefined {
  return cls.messages.find((m) => m.implicit === kind && m.field === field)?.wire;
}

function formatFloat(v: number) {
  return v.toFixed(3);
}

/** Renders a scalar by type (refs are handled by the caller). */
function scalarText(t: TypeDesc, v: unknown): string {
  if (v === undefined || v === null) return '';
  switch (t.kind) {
    case 'float':
      return typeof v === 'number' ? formatFloat(v) : String(v);
    case 'enum':
      return enumText(t.name, String(v));
    case 'bool':
      return v ? 'true' : 'false';
    default:
      return String(v);
  }
}

/** `param-set` fields that take a size with a unit suffix (256MiB), as in xapi's records.ml. */
const BYTES_PARAMS = new Set([
  'memory-static-max',
  'memory-dynamic-max',
  'memory-dynamic-min',
  'memory-static-min',
]);

/** Converts the text of `param-set` into an internal value of the field's type. */
export async function parseValue(
  api: CliApi,
  session: string,
  name: string,
  t: TypeDesc,
  text: string,
): Promise<unknown> {
  switch (t.kind) {
    case 'int':
    case 'int32': {
      if (BYTES_PARAMS.has(name)) {
        // xapi's records.ml reads these with Record_util.bytes_of_string: units allowed.
        try {
          return parseSize(name, text);
        } catch {
          throw new CliError(
            `Failed to parse field '${name}': expecting an integer (possibly with suffix KiB, MiB, GiB, TiB), got '${text}'`,
          );
        }
      }
      if (!/^-?\d+$/.test(text.trim())) throw new CliError(`Parameter ${name} must be an integer`);
      return Number(text.trim());
    }
    case 'float': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n))
        throw new CliError(`Parameter ${name} must be a floating-point number`);
      return n;
    }
    case 'bool': {
      const l = text.toLowerCase();
      if (l === 'true') return true;
      if (l === 'false') return false;
      throw new CliError(`Parameter ${name} must be a boolean (true or false)`);
    }
    case 'enum':
      return parseEnum(name, t.name, text);
    case 'ref':
      if (text === '') return NULL_REF;
      return api.call(session, `${t.cls}.get_by_uuid`, [text]);
    case 'set':
      return Promise.all(
        text
          .split(/\s*,\s*/)
          .filter((s) => s !== '')
          .map((s) => parseValue(api, session, name, t.of, s)),
      );
    default:
      return text;
  }
}

/** Binds the records.ml field list of `record` to one live row of class `clsName`. */
export function bindRecord(
  api: CliApi,
  session: string,
  resolver: RefResolver,
  clsName: string,
  record: string,
  ref: string,
  row: Row,
): CliField[] {
  const cls = MODEL.classes[clsName];
  const facts = XAPI_RECORDS[record] ?? [];
  const out: CliField[] = [];
  for (const fact of facts) {
    const f = bindField(api, session, resolver, cls, ref, row, fact);
    if (f) out.push(f);
  }
  return out;
}

function modeOf(fact: FieldFact): string {
  if (fact.get_set) return fact.add_to_set ? 'SRW' : 'SRO';
  if (fact.get_map) return fact.add_to_map ? 'MRW' : 'MRO';
  return fact.set ? ' RW' : ' RO';
}

/**
 * Fields records.ml computes with calls that amount to reading one field of the row: bound as
 * that field (subject's roles: Subject.get_roles, each shown by its name_label).
 */
const COMPUTED_AS_FIELD: Record<string, Partial<FieldFact>> = {
  'subject/roles': { cls: 'subject', field: 'roles', via: 'name' },
};

function bindField(
  api: CliApi,
  session: string,
  resolver: RefResolver,
  cls: ClassSpec,
  ref: string,
  row: Row,
  given: FieldFact,
): CliField | undefined {
  const fact = { ...given, ...COMPUTED_AS_FIELD[`${cls.name}/${given.name}`] };
  const base = {
    name: fact.name,
    mode: modeOf(fact),
    hidden: !!fact.hidden,
    expensive: !!fact.expensive,
    deprecated: !!fact.deprecated,
    caseInsensitive: !!fact.case_insensitive,
  };
  const special = specialField(resolver, cls.name, fact.name, row);
  if (special) return { ...base, get: special };
  if (!fact.cls || !fact.field) return undefined;
  // The value's source: this row, or a row linked from it (metrics objects).
  let source: () => Promise<Row | null>;
  if (fact.cls === cls.name) source = async () => row;
  else {
    const link = cls.fields.find((f) => f.type.kind === 'ref' && f.type.cls === fact.cls);
    if (!link) return undefined;
    source = () => resolver.record(fact.cls!, String(row[link.name] ?? NULL_REF));
  }
  const spec = fieldSpec(MODEL.classes[fact.cls], fact.field);
  if (!spec) return undefined;
  const values = async (): Promise<string[] | [string, string][] | string> => {
    const r = await source();
    if (!r) return '<not in database>';
    return render(resolver, spec, r[spec.name], fact.via);
  };
  const field: CliField = {
    ...base,
    get: async () => {
      const v = await values();
      if (typeof v === 'string') return v;
      if (spec.type.kind === 'map') return (v as [string, string][]).map(([k, x]) => `${k}: ${x}`).join('; ');
      return (v as string[]).join(spec.name === 'tags' ? ', ' : '; ');
    },
  };
  if (spec.type.kind === 'set')
    field.getSet = async () => {
      const v = await values();
      return typeof v === 'string' ? [] : (v as string[]);
    };
  if (spec.type.kind === 'map')
    field.getMap = async () => {
      const v = await values();
      return typeof v === 'string' ? [] : (v as [string, string][]);
    };
  if (fact.cls !== cls.name) return field;
  const call = (wire: string | undefined, args: unknown[]) => {
    if (!wire) throw new CliError(`Field '${fact.name}' is read-only.`);
    return api.call(session, wire, [ref, ...args]).then(() => undefined);
  };
  if (fact.set) {
    const setter = implicitMessage(cls, 'setter', spec.name) ?? `${cls.name}.set_${spec.name}`;
    field.set = async (text) => call(setter, [await parseValue(api, session, fact.name, spec.type, text)]);
  }
  if (fact.add_to_map && spec.type.kind === 'map') {
    const valueType = spec.type.value;
    const add = implicitMessage(cls, 'map_add', spec.name) ?? `${cls.name}.add_to_${spec.name}`;
    const remove = implicitMessage(cls, 'map_remove', spec.name) ?? `${cls.name}.remove_from_${spec.name}`;
    field.addToMap = async (k, v) => call(add, [k, await parseValue(api, session, fact.name, valueType, v)]);
    field.removeFromMap = (k) => call(remove, [k]);
  }
  if (fact.add_to_set && spec.type.kind === 'set') {
    const of = spec.type.of;
    const add = implicitMessage(cls, 'set_add', spec.name) ?? `${cls.name}.add_${spec.name}`;
    const remove = implicitMessage(cls, 'set_remove', spec.name) ?? `${cls.name}.remove_${spec.name}`;
    field.addToSet = async (v) => call(add, [await parseValue(api, session, fact.name, of, v)]);
    field.removeFromSet = async (v) => call(remove, [await parseValue(api, session, fact.name, of, v)]);
  }
  return field;
}

/** Renders one field value: a string, a list (sets) or pairs (maps). */
async function render(
  resolver: RefResolver,
  spec: FieldSpec,
  v: unknown,
  via: 'uuid' | 'name' | undefined,
): Promise<string | string[] | [string, string][]> {
  const one = async (t: TypeDesc, x: unknown): Promise<string> => {
    if (t.kind === 'ref') {
      const r = String(x ?? NULL_REF);
      return via === 'name' ? resolver.name(t.cls, r) : resolver.uuid(t.cls, r);
    }
    if (t.kind === 'set' || t.kind === 'map' || t.kind === 'record') return JSON.stringify(x);
    return scalarText(t, x);
  };
  const t = spec.type;
  if (t.kind === 'set') return Promise.all(((v as unknown[]) ?? []).map((x) => one(t.of, x)));
  if (t.kind === 'map') {
    const entries = Object.entries((v as Record<string, unknown>) ?? {});
    return Promise.all(
      entries.map(async ([k, x]) => [await one(t.key, k), await one(t.value, x)] as [string, string]),
    );
  }
  return one(t, v);
}

/** Fields xapi computes from other objects that the default list columns need. */
function specialField(
  resolver: RefResolver,
  cls: string,
  name: string,
  row: Row,
): (() => Promise<string>) | undefined {
  if (cls === 'SR' && name === 'host')
    return async () => {
      const pbds = (row.PBDs as string[]) ?? [];
      if (pbds.length > 1) return '<shared>';
      if (pbds.length === 0) return '<not in database>';
      const pbd = await resolver.record('PBD', pbds[0]);
      return pbd ? resolver.name('host', String(pbd.host)) : '<not in database>';
    };
  if (cls === 'VBD' && name === 'vdi-name-label')
    return async () => (row.empty ? '<EMPTY>' : resolver.name('VDI', String(row.VDI)));
  return undefined;
}

/** `<class>-param-*`: find a field by its CLI name. */
export function fieldLookup(fields: CliField[], name: string): CliField {
  const f = fields.find((x) => x.name === name);
  if (!f) throw new CliError(`Unknown field '${name}'`);
  return f;
}

export type FieldKind =
  | { kind: 'normal' }
  | { kind: 'map'; field: string; key: string }
  | { kind: 'set'; field: string; key: string };

/**
 * Classifies a parameter name against a record: a plain field, `map:key` (or legacy `map-key`,
 * longest map name first), or `set:contains` / `set-contains`.
 */
export function fieldKind(fields: CliField[], name: string): FieldKind {
  if (fields.some((f) => f.name === name)) return { kind: 'normal' };
  const byLength = (xs: CliField[]) => [...xs].sort((a, b) => b.name.length - a.name.length);
  for (const f of byLength(fields.filter((x) => x.getMap))) {
    if (name.startsWith(`${f.name}:`) || name.startsWith(`${f.name}-`))
      return { kind: 'map', field: f.name, key: name.slice(f.name.length + 1) };
  }
  for (const f of byLength(fields.filter((x) => x.getSet))) {
    if (name.startsWith(`${f.name}:`) || name.startsWith(`${f.name}-`))
      return { kind: 'set', field: f.name, key: name.slice(f.name.length + 1) };
  }
  throw new CliError(`Unknown field '${name}'`);
}

/** A bound record: its ref and fields. */
export interface BoundRecord {
  ref: string;
  row: Row;
  fields: CliField[];
}

/** All records of a CLI class, bound. */
export async function allRecords(api: CliApi, session: string, resolver: RefResolver, k: CliClass) {
  const rows = (await api.call(session, `${k.cls}.get_all_records`, [])) as Record<string, Row>;
  resolver.seed(k.cls, rows);
  return Object.entries(rows)
    .filter(([, row]) => k.where?.(row) ?? true)
    .map(
      ([ref, row]): BoundRecord => ({
        ref,
        row,
        fields: bindRecord(api, session, resolver, k.cls, k.record, ref, row),
      }),
    );
}

/** Keeps the records matching one filter (`field=value`, `map:key=value`, `set:contains=value`). */
export async function filterRecords(records: BoundRecord[], k: string, v: string): Promise<BoundRecord[]> {
  if (records.length === 0) return records;
  const kind = fieldKind(records[0].fields, k);
  if (kind.kind === 'set' && kind.key !== 'contains')
    throw new CliError('Invalid syntax for set filtering (should be set-param:contains=key)');
  const out: BoundRecord[] = [];
  for (const r of records) {
    const f = r.fields.find((x) => x.name === (kind.kind === 'normal' ? k : kind.field));
    if (!f) continue;
    const ci = f.caseInsensitive;
    const eq = (a: string, b: string) => (ci ? a.toLowerCase() === b.toLowerCase() : a === b);
    let ok = false;
    if (kind.kind === 'normal') ok = eq(await f.get(), v);
    else if (kind.kind === 'map') ok = (await f.getMap!()).some(([mk, mv]) => eq(mk, kind.key) && eq(mv, v));
    else ok = (await f.getSet!()).some((m) => eq(m, v));
    if (ok) out.push(r);
  }
  return out;
}

/** `( RO)` etc. as xapi prints a field key. */
export function fieldKey(f: CliField): string {
  return `${f.name} (${f.mode})${f.deprecated ? ' [DEPRECATED]' : ''}`;
}

/** The (key, value) rows to print for some fields; expensive ones are elided in lists. */
export async function printable(fields: CliField[], list: boolean): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for (const f of fields) {
    if (f.hidden) continue;
    out.push([fieldKey(f), list && f.expensive ? '<expensive field>' : await f.get()]);
  }
  return out;
}

/** `params=` selection: default columns, `all`, or a comma list (record order is kept). */
export function selectFields(fields: CliField[], params: string | undefined, defaults: string[]): CliField[] {
  const names = params === undefined ? defaults : params === 'all' ? [] : params.split(',');
  if (names.length === 0) return fields;
  return fields.filter((f) => names.includes(f.name));
}
