// Generates Berth's datamodel from xapi's published xenapi.json (copied into
// src/shared/datamodel/xenapi-datamodel.json) plus the few IDL facts that file leaves out
// (src/shared/datamodel/upstream-facts.json), plus Berth's own classes kept beside them
// (src/shared/datamodel/berth-extensions.json and extensions/*.json, which may also add messages to
// XenAPI classes: same raw format, marked as extensions, never in the
// XenAPI tables or events). Outputs:
//   src/shared/datamodel/generated/model.ts      the normalised runtime model
//   src/shared/datamodel/generated/api-types.ts  record/enum/method types for the SDK and handlers
//   src/shared/datamodel/generated/ref-fields.ts the class each reference field points to (berth export)
//   docs/api/*.md                                 the API reference
// Run with `npm run generate`; every build, test and start does.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  ClassSpec,
  FieldSpec,
  ImplicitKind,
  Lifecycle,
  MessageSpec,
  Model,
  ParamSpec,
  Qualifier,
} from '../src/shared/datamodel/model-types.js';
import { NULL_REF, parseType, type TypeDesc, typeToString } from '../src/shared/datamodel/types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dmDir = join(root, 'src/shared/datamodel');

interface RawField {
  name: string;
  description: string;
  type: string;
  qualifier: Qualifier;
  default?: string;
  lifecycle: { state: string };
}
interface RawMessage {
  name: string;
  description: string;
  result: string[];
  params: { type: string; name: string; doc: string; required: boolean }[];
  errors: { name: string; doc: string }[];
  roles: string[];
  implicit: boolean;
  lifecycle: { state: string };
}
interface RawClass {
  name: string;
  description: string;
  fields: RawField[];
  messages: RawMessage[];
  enums: { name: string; values: { name: string; doc: string }[] }[];
  lifecycle: { state: string };
}
interface Facts {
  syncOnlyMessages: string[];
  optionalParamDefaults: Record<string, Record<string, unknown>>;
  mapKeyRoles: Record<string, Record<string, string>>;
  exposeGetAll: string[];
  notInDatabase: string[];
  noEvents: string[];
  relations: [string, string][];
}

/**
 * Berth's own additions (berth-extensions.json and extensions/*.json): raw classes, messages added
 * to XenAPI's classes (by class name, e.g. `host.verify`), and which of them are async.
 */
export interface Extensions {
  asyncMessages: string[];
  classes: RawClass[];
  messages?: Record<string, RawMessage[]>;
}

const NO_EXTENSIONS: Extensions = { asyncMessages: [], classes: [] };

/** Merges extension files (each an Extensions) into one; the same class or message twice is refused. */
export function mergeExtensions(parts: Extensions[]): Extensions {
  const out: Extensions = { asyncMessages: [], classes: [], messages: {} };
  for (const p of parts) {
    out.asyncMessages.push(...p.asyncMessages);
    for (const c of p.classes) {
      if (out.classes.some((x) => x.name === c.name)) throw new Error(`extension class ${c.name} twice`);
      out.classes.push(c);
    }
    for (const [cls, msgs] of Object.entries(p.messages ?? {})) {
      const list = (out.messages![cls] ??= []);
      for (const m of msgs) {
        if (list.some((x) => x.name === m.name)) throw new Error(`extension message ${cls}.${m.name} twice`);
        list.push(m);
      }
    }
  }
  return out;
}

/** xapi's API version that Berth reports (XenServer 8 / XCP-ng 8.3 line). */
const API_VERSION = { major: 2, minor: 21 };

/** Roles from most to least privileged; a role includes all that follow it. */
const ROLE_ORDER = ['pool-admin', 'pool-operator', 'vm-power-admin', 'vm-admin', 'vm-operator', 'read-only'];

/** Namespaced fields: xapi's DB column joins the namespace with `__`. */
const NAMESPACES = ['name', 'memory', 'VCPUs', 'actions', 'PV', 'HVM', 'qos', 'API_version', 'io'];

export function columnName(field: string): string {
  for (const ns of NAMESPACES) {
    if (field.startsWith(`${ns}_`) && field.length > ns.length + 1)
      return `${ns}__${field.slice(ns.length + 1)}`;
  }
  return field;
}

function lifecycleOf(state: string): Lifecycle {
  switch (state) {
    case 'Prototyped_s':
      return 'prototyped';
    case 'Deprecated_s':
      return 'deprecated';
    case 'Removed_s':
      return 'removed';
    default:
      return 'published';
  }
}

/** Zero value of a type: what a field without an explicit default starts as. */
export function zeroValue(t: TypeDesc, enums: Record<string, string[]>): unknown {
  switch (t.kind) {
    case 'string':
      return '';
    case 'int':
    case 'int32':
    case 'float':
      return 0;
    case 'bool':
      return false;
    case 'datetime':
      return '19700101T00:00:00Z';
    case 'ref':
      return NULL_REF;
    case 'enum':
      return enums[t.name]?.[0] ?? '';
    case 'set':
      return [];
    case 'map':
    case 'record':
      return {};
    default:
      return undefined;
  }
}

/** Parses a datamodel default such as `""`, `{}`, `Null`, `1.`, `{"a" -> "b"}`, `{0}` into an internal value. */
export function parseDefault(text: string, t: TypeDesc): unknown {
  const unquote = (s: string) => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s);
  switch (t.kind) {
    case 'string':
      return unquote(text);
    case 'int':
    case 'float':
      return Number(text.endsWith('.') ? `${text}0` : text);
    case 'bool':
      return text === 'true';
    case 'ref':
      return text === 'Null' || text === '' ? NULL_REF : text;
    case 'enum':
    case 'datetime':
      return unquote(text);
    case 'set': {
      const inner = text.replace(/^\{|\}$/g, '').trim();
      if (!inner) return [];
      return inner.split(',').map((s) => parseDefault(s.trim(), t.of));
    }
    case 'map': {
      const inner = text.replace(/^\{|\}$/g, '').trim();
      const out: Record<string, unknown> = {};
      if (!inner) return out;
      for (const pair of inner.split(/,\s*/)) {
        const [k, v] = pair.split(/\s*->\s*/);
        out[unquote(k.trim())] = parseDefault(v.trim(), t.value);
      }
      return out;
    }
    default:
      throw new Error(`cannot parse default ${text} for ${typeToString(t)}`);
  }
}

function classifyImplicit(name: string, fieldNames: Set<string>): { kind: ImplicitKind; field?: string } {
  const exact: Record<string, ImplicitKind> = {
    get_record: 'get_record',
    get_by_uuid: 'get_by_uuid',
    get_by_name_label: 'get_by_name_label',
    get_all: 'get_all',
    get_all_records: 'get_all_records',
    create: 'create',
    destroy: 'destroy',
  };
  if (exact[name]) return { kind: exact[name] };
  const prefixes: [string, ImplicitKind][] = [
    ['get_', 'getter'],
    ['set_', 'setter'],
    ['add_to_', 'map_add'],
    ['remove_from_', 'map_remove'],
    ['add_', 'set_add'],
    ['remove_', 'set_remove'],
  ];
  for (const [prefix, kind] of prefixes) {
    if (name.startsWith(prefix) && fieldNames.has(name.slice(prefix.length))) {
      return { kind, field: name.slice(prefix.length) };
    }
  }
  throw new Error(`cannot classify implicit message ${name}`);
}

export function buildModel(xapi: RawClass[], facts: Facts, ext: Extensions = NO_EXTENSIONS): Model {
  const extNames = new Set(ext.classes.map((c) => c.name));
  for (const c of xapi)
    if (extNames.has(c.name)) throw new Error(`extension class ${c.name} clashes with XenAPI's`);
  // Messages Berth adds to XenAPI's classes: appended to a copy of the class, never clashing.
  const extMessages = new Set<string>();
  const withExtMessages = xapi.map((c) => {
    const added = ext.messages?.[c.name];
    if (!added?.length) return c;
    for (const m of added) {
      if (c.messages.some((x) => x.name === m.name))
        throw new Error(`extension message ${c.name}.${m.name} clashes with XenAPI's`);
      extMessages.add(`${c.name}.${m.name}`);
    }
    return { ...c, messages: [...c.messages, ...added] };
  });
  for (const cls of Object.keys(ext.messages ?? {}))
    if (!xapi.some((c) => c.name === cls)) throw new Error(`extension messages for unknown class ${cls}`);
  const raw = [...withExtMessages, ...ext.classes];
  const enums: Record<string, string[]> = {};
  for (const c of raw) for (const e of c.enums) enums[e.name] = e.values.map((v) => v.name);
  // Extension messages are sync-only unless listed; extension classes are not database classes.
  const extAsync = new Set(ext.asyncMessages);
  const syncOnly = new Set([
    ...facts.syncOnlyMessages,
    ...ext.classes
      .flatMap((c) => c.messages.map((m) => `${c.name}.${m.name}`))
      .filter((w) => !extAsync.has(w)),
    ...[...extMessages].filter((w) => !extAsync.has(w)),
  ]);
  const notInDb = new Set([...facts.notInDatabase, ...extNames]);
  const classes: Record<string, ClassSpec> = {};

  for (const c of raw) {
    const fields: FieldSpec[] = c.fields.map((f) => {
      const type = parseType(f.type);
      const field: FieldSpec = {
        name: f.name,
        column: columnName(f.name),
        type,
        qualifier: f.qualifier,
        lifecycle: lifecycleOf(f.lifecycle.state),
      };
      if (f.default !== undefined) field.default = parseDefault(f.default, type);
      else if (f.qualifier === 'RO/runtime') field.default = zeroValue(type, enums);
      const keyRoles = facts.mapKeyRoles[`${c.name}.${f.name}`];
      if (keyRoles) {
        field.mapKeyRoles = Object.fromEntries(
          Object.entries(keyRoles).map(([k, role]) => [k, ROLE_ORDER.slice(0, ROLE_ORDER.indexOf(role) + 1)]),
        );
      }
      return field;
    });
    const fieldNames = new Set(fields.map((f) => f.name));
    const exposeGetAll = facts.exposeGetAll.includes(c.name);

    const messages: MessageSpec[] = c.messages.map((m) => {
      const wire = `${c.name}.${m.name}`;
      const session = m.params[0]?.type === 'session ref' && m.params[0].name === 'session_id';
      const params: ParamSpec[] = m.params.slice(session ? 1 : 0).map((p) => {
        const type = parseType(p.type);
        const spec: ParamSpec = { name: p.name, type, required: p.required };
        if (!p.required) {
          const given = facts.optionalParamDefaults[wire]?.[p.name];
          spec.default = given !== undefined ? given : zeroValue(type, enums);
        }
        return spec;
      });
      const implicit = m.implicit ? classifyImplicit(m.name, fieldNames) : undefined;
      // Explicit messages that are generic field accessors with custom roles or protected keys
      // (VM.add_to_other_config, VM.set_platform…) get the generic implementation too.
      let generic: ReturnType<typeof classifyImplicit> | undefined;
      if (!m.implicit) {
        try {
          generic = classifyImplicit(m.name, fieldNames);
        } catch {
          generic = undefined;
        }
        if (
          generic &&
          !['getter', 'setter', 'map_add', 'map_remove', 'set_add', 'set_remove'].includes(generic.kind)
        )
          generic = undefined;
      }
      // Async: explicit messages unless flagged sync-only upstream; implicit only create/destroy.
      const async = implicit
        ? implicit.kind === 'create' || implicit.kind === 'destroy'
        : !syncOnly.has(wire) && c.name !== 'event';
      const spec: MessageSpec = {
        cls: c.name,
        name: m.name,
        wire,
        session,
        params,
        result: parseType(m.result[0]),
        roles: m.roles,
        async,
        implicit: implicit?.kind ?? false,
        lifecycle: lifecycleOf(m.lifecycle.state),
        errors: m.errors.map((e) => e.name),
      };
      if (implicit?.field) spec.field = implicit.field;
      if (extMessages.has(wire)) spec.extension = 'berth';
      if (generic) {
        spec.generic = generic.kind;
        spec.field = generic.field;
      }
      return spec;
    });

    // Hidden on the wire but not in the published datamodel.
    if (exposeGetAll) {
      const base = messages.find((m) => m.name === 'get_all_records');
      if (base) {
        const where = { name: 'expr', type: { kind: 'string' } as TypeDesc, required: true };
        messages.push(
          {
            ...base,
            name: 'get_all_records_where',
            wire: `${c.name}.get_all_records_where`,
            params: [where],
            implicit: 'get_all_records_where',
          },
          {
            ...base,
            name: 'get_all_where',
            wire: `${c.name}.get_all_where`,
            params: [where],
            result: { kind: 'set', of: { kind: 'ref', cls: c.name } },
            implicit: 'get_all_where',
          },
        );
      }
    }

    classes[c.name] = {
      name: c.name,
      fields,
      messages,
      inDb: !notInDb.has(c.name),
      genEvents: !facts.noEvents.includes(c.name) && !notInDb.has(c.name),
      exposeGetAll,
      relations: [],
      lifecycle: lifecycleOf(c.lifecycle.state),
    };
    if (extNames.has(c.name)) classes[c.name].extension = 'berth';
  }
  for (const [many, one] of facts.relations) {
    const [cls, field] = many.split('.');
    const [otherClass, otherField] = one.split('.');
    classes[cls].relations.push({ field, otherClass, otherField });
  }
  return { apiVersion: API_VERSION, classes, enums };
}

// ---------- SDK types ----------

/** How a value of `t` looks in TypeScript; `partialRecords` for decoded record parameters. */
function tsType(t: TypeDesc, partialRecords = false): string {
  switch (t.kind) {
    case 'string':
    case 'datetime':
      return 'string';
    case 'int':
    case 'int32':
    case 'float':
      return 'number';
    case 'bool':
      return 'boolean';
    case 'void':
      return 'void';
    case 'ref':
      return `Ref<'${t.cls}'>`;
    case 'enum':
      return `Enum_${t.name}`;
    case 'set':
      return `${wrap(tsType(t.of, partialRecords))}[]`;
    case 'map':
      return `Record<string, ${tsType(t.value, partialRecords)}>`;
    case 'record': {
      if (t.cls === 'event_batch') return 'EventBatch';
      if (!/^\w+$/.test(t.cls)) return 'Record<string, unknown>';
      // The decoder keeps only the fields a caller sent.
      return partialRecords ? `Partial<${t.cls}_record>` : `${t.cls}_record`;
    }
    case 'option':
      return `${wrap(tsType(t.of, partialRecords))} | undefined`;
  }
}
const wrap = (s: string) => (/[ |]/.test(s) ? `(${s})` : s);

/** Words a tuple label cannot be. */
const RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if implements import in instanceof interface let new null package private protected public return static super switch this throw true try typeof var void while with yield'.split(
    ' ',
  ),
);
const label = (name: string) => (RESERVED.has(name) ? `${name}_` : name);

/** A message's parameters as its handler receives them: decoded, defaults filled, no session. */
export function serverParams(m: MessageSpec): string {
  return `[${m.params.map((p) => `${label(p.name)}: ${tsType(p.type, true)}`).join(', ')}]`;
}

/** The class a reference-typed field points to: `ref`, `ref set`, `ref option`, or a map's ref values. */
function refTarget(t: TypeDesc): string | undefined {
  if (t.kind === 'ref') return t.cls;
  if (t.kind === 'set' || t.kind === 'option') return refTarget(t.of);
  if (t.kind === 'map') return refTarget(t.value);
  return undefined;
}

/** Class → field → target class, for every reference field (a few KB; the CLI cannot load model.ts). */
export function refFields(model: Model): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [name, cls] of Object.entries(model.classes)) {
    const fields: Record<string, string> = {};
    for (const f of cls.fields) {
      const target = refTarget(f.type);
      if (target) fields[f.name] = target;
    }
    if (Object.keys(fields).length > 0) out[name] = fields;
  }
  return out;
}

/** Class → its reference fields that hold several refs (sets, maps to refs); the rest hold one. */
export function refManyFields(model: Model): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, cls] of Object.entries(model.classes)) {
    const many = cls.fields
      .filter((f) => f.type.kind !== 'ref' && f.type.kind !== 'option' && refTarget(f.type))
      .map((f) => f.name);
    if (many.length > 0) out[name] = many;
  }
  return out;
}

function renderSdkTypes(model: Model): string {
  const out: string[] = [
    '// Generated by tools/generate-datamodel.ts from the XenAPI datamodel. Do not edit.',
    '/* eslint-disable */',
    '/** An opaque object reference (`OpaqueRef:…`), branded with its class. */',
    'export type Ref<C extends string> = string & { readonly __class?: C };',
    '',
  ];
  for (const [name, values] of Object.entries(model.enums)) {
    out.push(`export type Enum_${name} = ${values.map((v) => JSON.stringify(v)).join(' | ') || 'string'};`);
  }
  out.push('');
  for (const c of Object.values(model.classes)) {
    out.push(`export interface ${c.name}_record {`);
    for (const f of c.fields) out.push(`  ${f.name}: ${tsType(f.type)};`);
    out.push('}');
  }
  out.push(
    'export interface event_record_wire { id: string; timestamp: string; class: string; operation: "add" | "mod" | "del"; ref: string; snapshot?: Record<string, unknown> }',
    'export interface EventBatch { events: event_record_wire[]; valid_ref_counts: Record<string, number>; token: string }',
    '',
    '/** Every callable message: wire name → positional parameters (after the session) and result. */',
    'export interface Methods {',
  );
  for (const c of Object.values(model.classes)) {
    for (const m of c.messages) {
      if (m.lifecycle === 'removed') continue;
      const params = m.params.map((p) => `${p.name}_${p.required ? '' : '?'}: ${tsType(p.type)}`).join(', ');
      out.push(
        `  ${JSON.stringify(m.wire)}: { params: [${params}]; result: ${tsType(m.result)}; session: ${m.session} };`,
      );
    }
  }
  out.push(
    '}',
    '',
    '/** Every callable message: wire name → the arguments its server handler receives (after the context). */',
    'export interface ServerParams {',
  );
  for (const c of Object.values(model.classes)) {
    for (const m of c.messages) {
      if (m.lifecycle === 'removed') continue;
      out.push(`  ${JSON.stringify(m.wire)}: ${serverParams(m)};`);
    }
  }
  out.push('}', '');
  return out.join('\n');
}

// ---------- API reference ----------

const EXTENSION_NOTE =
  'Not part of XenAPI: classes of Berth’s own, generated from `src/shared/datamodel/berth-extensions.json` and `extensions/*.json` ' +
  'beside the XenAPI datamodel. Their objects live outside the XenAPI tables (no events, no `*_where`); ' +
  'see docs/storage-plugins.md "Through the API and xe".';

function renderDocs(model: Model, raw: RawClass[]): Map<string, string> {
  const files = new Map<string, string>();
  const index = [
    '# Berth API reference',
    '',
    `Generated from the XenAPI datamodel (API version ${model.apiVersion.major}.${model.apiVersion.minor}) by`,
    '`tools/generate-datamodel.ts`. Each class page lists fields and messages with types, roles and whether',
    '`Async.` is available. Messages Berth does not implement yet answer `NOT_IMPLEMENTED`; the live list of',
    'callable methods is `system.listMethods`.',
    '',
  ];
  const xapi = raw.filter((rc) => !model.classes[rc.name].extension);
  const ext = raw.filter((rc) => model.classes[rc.name].extension);
  const entry = (rc: RawClass) => `- [${rc.name}](${rc.name}.md) — ${rc.description.split('\n')[0]}`;
  index.push(...xapi.map(entry));
  if (ext.length) index.push('', '## Berth extensions', '', EXTENSION_NOTE, '', ...ext.map(entry));
  for (const rc of raw) {
    const c = model.classes[rc.name];
    const lines = [`# ${c.name}`, ''];
    if (c.extension) lines.push(`> **Berth extension.** ${EXTENSION_NOTE}`, '');
    lines.push(rc.description, '');
    lines.push(
      '## Fields',
      '',
      '| field | type | qualifier | default | description |',
      '|---|---|---|---|---|',
    );
    rc.fields.forEach((f, i) => {
      const spec = c.fields[i];
      const def = spec.default === undefined ? '' : `\`${JSON.stringify(spec.default)}\``;
      lines.push(
        `| ${f.name} | \`${f.type}\` | ${f.qualifier} | ${def} | ${f.description.replace(/\n/g, ' ').replace(/\|/g, '\\|')} |`,
      );
    });
    lines.push('', '## Messages', '');
    for (const m of c.messages) {
      const rm = rc.messages.find((x) => x.name === m.name);
      const params = m.params
        .map((p) => `${p.name}: ${typeToString(p.type)}${p.required ? '' : '?'}`)
        .join(', ');
      lines.push(`### ${m.wire}(${params}) → ${typeToString(m.result)}`, '');
      if (m.extension && !c.extension) lines.push(`> **Berth extension** (not part of XenAPI).`, '');
      if (rm) lines.push(rm.description, '');
      else
        lines.push('Hidden on the wire: like get_all_records/get_all, filtered by a where-expression.', '');
      lines.push(
        `- roles: ${m.roles.join(', ') || 'local superuser only'}`,
        `- async: ${m.async ? 'yes' : 'no'}${m.lifecycle !== 'published' ? `; lifecycle: ${m.lifecycle}` : ''}`,
      );
      if (m.errors.length) lines.push(`- errors: ${m.errors.join(', ')}`);
      lines.push('');
    }
    files.set(`${c.name}.md`, lines.join('\n'));
  }
  files.set('README.md', `${index.join('\n')}\n`);
  return files;
}

/** berth-extensions.json and every extensions/*.json of a datamodel directory, merged. */
export function loadExtensions(dir: string): Extensions {
  const extDir = join(dir, 'extensions');
  const files = [
    join(dir, 'berth-extensions.json'),
    ...(existsSync(extDir)
      ? readdirSync(extDir)
          .filter((f) => f.endsWith('.json'))
          .sort()
          .map((f) => join(extDir, f))
      : []),
  ];
  return mergeExtensions(files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as Extensions));
}

function main() {
  const raw = JSON.parse(readFileSync(join(dmDir, 'xenapi-datamodel.json'), 'utf8')) as RawClass[];
  const facts = JSON.parse(readFileSync(join(dmDir, 'upstream-facts.json'), 'utf8')) as Facts;
  const ext = loadExtensions(dmDir);
  const model = buildModel(raw, facts, ext);
  const genDir = join(dmDir, 'generated');
  mkdirSync(genDir, { recursive: true });
  writeFileSync(
    join(genDir, 'model.ts'),
    [
      '// Generated by tools/generate-datamodel.ts from xenapi-datamodel.json. Do not edit.',
      "import type { Model } from '../model-types.js';",
      '',
      `export const MODEL: Model = JSON.parse(${JSON.stringify(JSON.stringify(model))});`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(genDir, 'api-types.ts'), renderSdkTypes(model));
  writeFileSync(
    join(genDir, 'ref-fields.ts'),
    [
      '// Generated by tools/generate-datamodel.ts: the class each reference field points to. Do not edit.',
      `export const REF_FIELDS: Record<string, Record<string, string>> = JSON.parse(${JSON.stringify(JSON.stringify(refFields(model)))});`,
      '/** The reference fields of each class holding several refs (sets, maps); the others hold one. */',
      `export const REF_MANY_FIELDS: Record<string, string[]> = JSON.parse(${JSON.stringify(JSON.stringify(refManyFields(model)))});`,
      '',
    ].join('\n'),
  );
  const docsDir = join(root, 'docs/api');
  rmSync(docsDir, { recursive: true, force: true });
  mkdirSync(docsDir, { recursive: true });
  for (const [name, text] of renderDocs(model, [...raw, ...ext.classes]))
    writeFileSync(join(docsDir, name), text);
  const nMsg = Object.values(model.classes).reduce((n, c) => n + c.messages.length, 0);
  process.stdout.write(`datamodel: ${Object.keys(model.classes).length} classes, ${nMsg} messages\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
