// xe commands for storage resources (Berth extension; docs/storage-plugins.md "Through the API and
// xe"), on the storage_resource class: list / param-list / alert-list / affected / tree of the
// resources, root-create / root-destroy for controller plugins' roots, storage-plugin-list. Records
// print in xapi's layout (`name ( RO): value`, sets `a; b` as SRO, maps `k: v; k2: v2` as MRO).
import type {
  storage_plugin_record,
  storage_resource_alert_record,
  storage_resource_record,
} from '../../../shared/datamodel/generated/api-types.js';
import { getParam, requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import type { Table } from '../printer.js';
import { STDPARAMS } from '../select.js';

// The records as the datamodel declares them (berth-extensions.json → generated api-types).
type ResourceRecord = storage_resource_record;
type AlertRecord = storage_resource_alert_record;
type PluginRecord = storage_plugin_record;

const call = (ctx: Ctx, msg: string, args: unknown[] = []) =>
  ctx.api.call(ctx.session, `storage_resource.${msg}`, args);

/**
 * A Berth command: not in xapi's table, so declared here with its help. Not `Standard`: `xe help`
 * keeps xapi's common list; they are in `xe help --all` and `xe help <command>`.
 */
function berthCommand(
  name: string,
  reqd: string[],
  optn: string[],
  help: string,
  run: (ctx: Ctx) => Promise<void>,
): CommandSpec {
  return { name, reqd, optn, help: `${help} (Berth extension)`, flags: [], run };
}

type Kind = ' RO' | 'SRO' | 'MRO';
const setText = (xs: string[]) => xs.join('; ');
const mapText = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');

/** Every field of a record as xe shows it: name, kind, text (refs as uuids). */
function fields(r: ResourceRecord, uuidOfRef: Map<string, string>): [string, Kind, string][] {
  const uuids = (refs: string[]) => refs.map((x) => uuidOfRef.get(x) ?? x);
  return [
    ['uuid', ' RO', r.uuid],
    ['class-name', ' RO', r.class_name],
    ['class-label', ' RO', r.class_label],
    ['label', ' RO', r.label],
    ['alias', ' RO', r.alias],
    ['root', ' RO', r.root],
    ['reported-by', 'SRO', setText(r.reported_by)],
    ['attributes', 'MRO', mapText(r.attributes)],
    ['parents', 'SRO', setText(uuids(r.parents))],
    ['children', 'SRO', setText(uuids(r.children))],
    ['alerts', 'SRO', setText(r.alerts)],
  ];
}

const DEFAULT_COLUMNS = ['uuid', 'class-name', 'label'];

/** `params=` as list commands take it: all, or a comma-separated choice (unknown names refused). */
function chosen(all: [string, Kind, string][], params: string | undefined, defaults: string[]) {
  if (params === 'all') return all;
  const names = params ? params.split(',') : defaults;
  return names.map((n) => {
    const f = all.find(([k]) => k === n);
    if (!f) throw new CliError(`Unknown field '${n}'`);
    return f;
  });
}

const row = (fs: [string, Kind, string][]): [string, string][] =>
  fs.map(([k, kind, v]) => [`${k} (${kind})`, v]);

async function allResources(ctx: Ctx) {
  const records = (await call(ctx, 'get_all_records')) as Record<string, ResourceRecord>;
  const uuidOfRef = new Map(Object.entries(records).map(([ref, r]) => [ref, r.uuid]));
  const list = Object.entries(records)
    .map(([ref, r]) => ({ ref, r }))
    .sort((a, b) => sortKey(a.r).localeCompare(sortKey(b.r)));
  return { list, uuidOfRef, refOfUuid: new Map([...uuidOfRef].map(([ref, u]) => [u, ref])) };
}

/** The resource a uuid= names (UUID_INVALID from the server otherwise). */
async function byUuid(ctx: Ctx, uuid: string): Promise<{ ref: string; r: ResourceRecord }> {
  const ref = String(await call(ctx, 'get_by_uuid', [uuid]));
  return { ref, r: (await call(ctx, 'get_record', [ref])) as ResourceRecord };
}

const LIST_OWN = ['params', 'class', 'root'];

async function list(ctx: Ctx) {
  const unknown = ctx.params.find(([p]) => !LIST_OWN.includes(p) && !STDPARAMS.includes(p));
  if (unknown) throw new CliError(`Unknown field '${unknown[0]}'`);
  const { list, uuidOfRef } = await allResources(ctx);
  const cls = getParam(ctx.params, 'class');
  const root = getParam(ctx.params, 'root');
  const table: Table = list
    .filter(({ r }) => (cls === undefined || r.class_name === cls) && (root === undefined || r.root === root))
    .map(({ r }) => row(chosen(fields(r, uuidOfRef), getParam(ctx.params, 'params'), DEFAULT_COLUMNS)));
  ctx.p.table(table);
}

async function paramList(ctx: Ctx) {
  const { r } = await byUuid(ctx, requireParam(ctx.params, 'uuid'));
  const { uuidOfRef } = await allResources(ctx);
  ctx.p.table([row(fields(r, uuidOfRef))]);
}

export function alertTable(alerts: AlertRecord[]): Table {
  return alerts.map((a) => [
    ['resource-uuid ( RO)', a.resource],
    ['severity ( RO)', a.severity],
    ['message ( RO)', a.message],
    ['active ( RO)', String(a.active)],
    ['alert-class ( RO)', a.alert_class],
    ['kind ( RO)', a.kind],
    ['root ( RO)', a.root],
    ['raised ( RO)', a.raised],
    ['lowered ( RO)', a.lowered],
  ]);
}

async function alertList(ctx: Ctx) {
  const all = getParam(ctx.params, 'all') === 'true';
  const uuid = getParam(ctx.params, 'uuid');
  const alerts = uuid
    ? ((await call(ctx, 'get_alerts', [(await byUuid(ctx, uuid)).ref])) as AlertRecord[]).filter(
        (a) => all || a.active,
      )
    : ((await call(ctx, 'get_all_alerts', [all])) as AlertRecord[]);
  ctx.p.table(alertTable(alerts));
}

/** uuid and name of a XenAPI object by ref (a ref that vanished meanwhile shows as the ref). */
async function describeRef(ctx: Ctx, cls: string, ref: string): Promise<string> {
  try {
    const rec = (await ctx.api.call(ctx.session, `${cls}.get_record`, [ref])) as {
      uuid: string;
      name_label?: string;
      device?: string;
    };
    const name = rec.name_label ?? rec.device;
    return name ? `${rec.uuid} (${name})` : rec.uuid;
  } catch {
    return ref;
  }
}

async function affected(ctx: Ctx) {
  const { ref } = await byUuid(ctx, requireParam(ctx.params, 'uuid'));
  const a = (await call(ctx, 'get_affected', [ref])) as Record<string, string[]>;
  const { uuidOfRef, list } = await allResources(ctx);
  const labelOf = new Map(list.map(({ ref: r, r: rec }) => [r, rec.alias || rec.label]));
  const show = async (cls: string, refs: string[]) =>
    setText(await Promise.all(refs.map((x) => describeRef(ctx, cls, x))));
  ctx.p.table([
    [
      [
        'storage-resources (SRO)',
        setText(
          (a.storage_resources ?? []).map((x) => `${uuidOfRef.get(x) ?? x} (${labelOf.get(x) ?? '?'})`),
        ),
      ],
      ['SRs (SRO)', await show('SR', a.SRs ?? [])],
      ['VDIs (SRO)', await show('VDI', a.VDIs ?? [])],
      ['VBDs (SRO)', await show('VBD', a.VBDs ?? [])],
      ['VMs (SRO)', await show('VM', a.VMs ?? [])],
    ],
  ]);
}

/**
 * The resources as an indented tree: each under its parents, top-level ones (no parents) first;
 * `keep` limits it to some records (root=). The graph is a DAG (a fan is a parent of its
 * enclosure, which the controller root is a parent of too): a resource is expanded where it
 * first appears and shown again elsewhere as `^` (see above), without its children.
 * Lines: `<alias or label> [<class>] <uuid>`, then `! <n> alert(s)` when it has active alerts.
 */
export function treeLines(
  records: { ref: string; r: ResourceRecord }[],
  keep?: (r: ResourceRecord) => boolean,
): string[] {
  const byRef = new Map(records.map((x) => [x.ref, x.r]));
  const shown = new Set(records.filter(({ r }) => !keep || keep(r)).map((x) => x.ref));
  const bySortKey = (a: string, b: string) => sortKey(byRef.get(a)).localeCompare(sortKey(byRef.get(b)));
  const out: string[] = [];
  const expanded = new Set<string>();
  const walk = (ref: string, depth: number) => {
    const r = byRef.get(ref)!;
    const alerts = r.alerts.length ? ` ! ${r.alerts.length} alert(s)` : '';
    const again = expanded.has(ref);
    out.push(
      `${'  '.repeat(depth)}${again ? '^ ' : ''}${r.alias || r.label} [${r.class_name}] ${r.uuid}${alerts}`,
    );
    if (again) return;
    expanded.add(ref);
    for (const c of r.children.filter((x) => shown.has(x)).sort(bySortKey)) walk(c, depth + 1);
  };
  const tops = [...shown].filter((ref) => !byRef.get(ref)!.parents.some((p) => shown.has(p)));
  for (const t of tops.sort(bySortKey)) walk(t, 0);
  return out;
}

const sortKey = (r?: ResourceRecord) => (r ? `${r.class_name}\0${r.alias || r.label}\0${r.uuid}` : '');

async function tree(ctx: Ctx) {
  const { list } = await allResources(ctx);
  const rootUuid = getParam(ctx.params, 'root');
  let keep: ((r: ResourceRecord) => boolean) | undefined;
  if (rootUuid !== undefined) {
    const { r: top } = await byUuid(ctx, rootUuid);
    if (!top.root) throw new CliError(`Storage resource ${rootUuid} is not a root`);
    keep = (r) => r.root === top.root || r.reported_by.includes(top.root);
  }
  const lines = treeLines(list, keep);
  if (ctx.p.minimal) ctx.p.list(lines.map((l) => l.trim().split(' ').at(-1)!));
  else for (const l of lines) ctx.p.msg(l);
}

const ROOT_CREATE_OWN = ['plugin', 'class'];

async function rootCreate(ctx: Ctx) {
  const plugin = requireParam(ctx.params, 'plugin');
  const cls = requireParam(ctx.params, 'class');
  const attributes: Record<string, string> = {};
  for (const [k, v] of ctx.params)
    if (!ROOT_CREATE_OWN.includes(k) && !STDPARAMS.includes(k)) attributes[k] = v;
  const ref = String(await call(ctx, 'create_root', [plugin, cls, attributes]));
  const r = (await call(ctx, 'get_record', [ref])) as ResourceRecord;
  ctx.p.list([r.uuid]);
}

async function rootDestroy(ctx: Ctx) {
  const { ref } = await byUuid(ctx, requireParam(ctx.params, 'uuid'));
  await call(ctx, 'destroy_root', [ref]);
}

export function pluginTable(plugins: PluginRecord[]): Table {
  return plugins.map((p) => [
    ['name ( RO)', p.name],
    ['state ( RO)', p.state],
    ['entry ( RO)', p.entry],
    ['classes (SRO)', setText(p.classes)],
    ['scannable-classes (SRO)', setText(p.scannable_classes)],
    ['errors (SRO)', setText(p.errors)],
  ]);
}

async function pluginList(ctx: Ctx) {
  ctx.p.table(pluginTable((await call(ctx, 'get_plugins')) as PluginRecord[]));
}

export const STORAGE_RESOURCE_COMMANDS: CommandSpec[] = [
  berthCommand(
    'storage-resource-list',
    [],
    ['params', 'class', 'root'],
    'Lists the storage resources plugins report, optionally of one class (class=plugin.Class) or root.',
    list,
  ),
  berthCommand(
    'storage-resource-param-list',
    ['uuid'],
    [],
    'Shows every field of a storage resource.',
    paramList,
  ),
  berthCommand(
    'storage-resource-alert-list',
    [],
    ['uuid', 'all'],
    'Lists active storage alerts (all=true: with the lowered ones), of every resource or of one (uuid=).',
    alertList,
  ),
  berthCommand(
    'storage-resource-affected',
    ['uuid'],
    [],
    'Shows what a storage resource affects: its descendants, and the SRs, VDIs, VBDs and VMs on them.',
    affected,
  ),
  berthCommand(
    'storage-resource-tree',
    [],
    ['root'],
    'Prints the storage resources as a tree, children under their parents (root=: one root only).',
    tree,
  ),
  berthCommand(
    'storage-resource-root-create',
    ['plugin', 'class'],
    ['<attribute>=<value>'],
    "Adds a root for a controller plugin's scannable class; its attributes as name=value.",
    rootCreate,
  ),
  berthCommand(
    'storage-resource-root-destroy',
    ['uuid'],
    [],
    'Removes a root added by storage-resource-root-create and everything reported from it.',
    rootDestroy,
  ),
  berthCommand(
    'storage-plugin-list',
    [],
    [],
    'Lists the storage plugins: loaded ones with their classes, broken ones with their errors.',
    pluginList,
  ),
];
