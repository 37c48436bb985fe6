// `export [field [field…]]`: a dump of each selected object, or of the objects and values a path
// of fields leads to (oVirtCmd's sub-entry export): a reference field leads to the object(s) it
// points to, a map or nested record is walked by key, a plain value is printed on its line.
// Documents are XML as oVirtCmd's (export-document.ts), or JSON lines / YAML with `-o json|yaml`.
import type { Api, ApiObject } from '../api.js';
import { CliError, EXIT_FAILED } from '../errors.js';
import {
  isPlainObject,
  objectData,
  objectXml,
  type RefFieldsOf,
  referencesOf,
  type UuidOf,
  valueXml,
} from '../export-document.js';
import type { NounSpec, VerbSpec } from '../spec.js';

const NULL_REF = 'OpaqueRef:NULL';
/** Concurrent calls while resolving a document's links or reading the members of a set. */
const LINK_LOOKUPS_AT_ONCE = 16;
/** Links to more objects of one class than this, across the objects dumped: one bulk lookup. */
const BULK_LOOKUP = 32;

type Format = 'xml' | 'json' | 'yaml';

/**
 * The key of `record` a path word names: exact, else the one key equal ignoring case (`pifs` →
 * `PIFs`), else `name` for the record's name field (oVirt's `name` is XenAPI's `name_label`).
 */
export function fieldOf(
  record: Record<string, unknown>,
  word: string,
  nameField = 'name_label',
): string | undefined {
  if (Object.hasOwn(record, word)) return word;
  const lower = word.toLowerCase();
  const same = Object.keys(record).filter((k) => k.toLowerCase() === lower);
  if (same.length === 1) return same[0];
  if (lower === 'name' && Object.hasOwn(record, nameField)) return nameField;
  return undefined;
}

/** How an object is named in messages: `<noun or class> <name, else uuid, else OpaqueRef>`. */
export function objectLabel(kind: string, o: ApiObject, nameField = 'name_label'): string {
  const name = o.record[nameField];
  const uuid = o.record.uuid;
  // A pseudo object's ref (`system`) names nothing more than its kind.
  const ref = o.ref.startsWith('OpaqueRef:') ? o.ref : '';
  const id = typeof name === 'string' && name ? name : typeof uuid === 'string' && uuid ? uuid : ref;
  return id ? `${kind} ${id}` : kind;
}

function missing(word: string, where: string): CliError {
  return new CliError(`Attribute ${word} missing in ${where}`, EXIT_FAILED);
}

/** Walks export paths and renders documents; caches the uuids of the references it links to. */
export class Exporter {
  private readonly uuids = new Map<string, Promise<string | undefined>>();
  private yamlStringify?: (v: unknown) => string;

  constructor(
    private readonly api: Api,
    private readonly refFields: Record<string, RefFieldsOf>,
    private readonly format: Format,
  ) {}

  /** The documents and lines of one object along `path` (empty: the object itself). */
  async *object(o: ApiObject, path: string[], label: string, nameField?: string): AsyncGenerator<string> {
    if (path.length === 0) {
      yield await this.objectDocument(o);
      return;
    }
    const key = fieldOf(o.record, path[0], nameField);
    if (key === undefined) throw missing(path[0], label);
    yield* this.value(o.record[key], this.refFields[o.cls]?.[key], path.slice(1), key, `${label} ${key}`);
  }

  /** A field's value along the rest of the path; `refCls` is set when it holds references. */
  private async *value(
    value: unknown,
    refCls: string | undefined,
    path: string[],
    name: string,
    label: string,
  ): AsyncGenerator<string> {
    if (refCls && typeof value === 'string') {
      if (value === NULL_REF || value === '') return; // nothing there (a halted VM's resident_on)
      const o = await this.api.byRef(refCls, value);
      yield* this.object(o, path, objectLabel(refCls, o));
      return;
    }
    if (Array.isArray(value)) {
      if (refCls && value.every((m) => typeof m === 'string')) {
        // A set of references: read LINK_LOOKUPS_AT_ONCE members at a time, exported in order.
        const refs = (value as string[]).filter((r) => r !== NULL_REF && r !== '');
        for (let i = 0; i < refs.length; i += LINK_LOOKUPS_AT_ONCE) {
          const batch = refs.slice(i, i + LINK_LOOKUPS_AT_ONCE);
          const objects = await Promise.all(batch.map((r) => this.api.byRef(refCls, r)));
          if (path.length === 0) await this.prefetchLinks(objects);
          for (const o of objects) yield* this.object(o, path, objectLabel(refCls, o));
        }
        return;
      }
      for (const member of value) yield* this.value(member, refCls, path, name, label);
      return;
    }
    if (isPlainObject(value)) {
      if (path.length === 0) {
        yield await this.valueDocument(name, value, refCls);
        return;
      }
      const key = fieldOf(value, path[0]);
      if (key === undefined) throw missing(path[0], label);
      yield* this.value(value[key], refCls, path.slice(1), key, `${label} ${key}`);
      return;
    }
    if (path.length > 0) throw missing(path[0], label);
    if (value === null || value === undefined) return;
    yield this.format === 'json'
      ? JSON.stringify(value)
      : value instanceof Date
        ? value.toISOString()
        : String(value);
  }

  private async objectDocument(o: ApiObject): Promise<string> {
    if (this.format !== 'xml') return this.data(objectData(o));
    const fields = this.refFields[o.cls] ?? {};
    const refs = Object.entries(fields).flatMap(([f, cls]) => referencesOf(o.record[f], cls));
    return objectXml(o, fields, await this.uuidsOf(refs));
  }

  private async valueDocument(name: string, value: Record<string, unknown>, refCls: string | undefined) {
    if (this.format !== 'xml') return this.data(value);
    return valueXml(name, value, refCls, await this.uuidsOf(referencesOf(value, refCls)));
  }

  private async data(v: unknown): Promise<string> {
    if (this.format === 'json') return JSON.stringify(v);
    if (!this.yamlStringify) this.yamlStringify = (await import('yaml')).stringify;
    return `---\n${this.yamlStringify(v).trimEnd()}`;
  }

  /**
   * Before dumping many objects: the uuids of everything they link to, one `get_all_records` per
   * class that has more than BULK_LOOKUP links (a thousand VMs' metrics in one call, not a
   * thousand); the rest, and classes without get_all_records, are looked up one by one later.
   */
  async prefetchLinks(objects: ApiObject[]): Promise<void> {
    if (this.format !== 'xml') return;
    const byClass = new Map<string, Set<string>>();
    for (const o of objects)
      for (const [f, cls] of Object.entries(this.refFields[o.cls] ?? {}))
        for (const [c, ref] of referencesOf(o.record[f], cls)) {
          if (!byClass.has(c)) byClass.set(c, new Set());
          byClass.get(c)?.add(ref);
        }
    for (const [cls, refs] of byClass) {
      if (refs.size <= BULK_LOOKUP) continue;
      let all: Record<string, Record<string, unknown>>;
      try {
        all = (await this.api.call(`${cls}.get_all_records`)) as Record<string, Record<string, unknown>>;
      } catch {
        continue;
      }
      for (const ref of refs) {
        const uuid = all[ref]?.uuid;
        this.uuids.set(`${cls} ${ref}`, Promise.resolve(typeof uuid === 'string' ? uuid : undefined));
      }
    }
  }

  /** Looks the uuids of `refs` up (a few at a time, each once per command); dangling → none. */
  private async uuidsOf(refs: [string, string][]): Promise<UuidOf> {
    const todo = refs.filter(([cls, ref]) => !this.uuids.has(`${cls} ${ref}`));
    for (let i = 0; i < todo.length; i += LINK_LOOKUPS_AT_ONCE) {
      const batch = todo.slice(i, i + LINK_LOOKUPS_AT_ONCE).map(([cls, ref]) => {
        const key = `${cls} ${ref}`;
        let p = this.uuids.get(key);
        if (!p) {
          p = this.api.call(`${cls}.get_uuid`, ref).then(
            (u) => (typeof u === 'string' ? u : undefined),
            () => undefined,
          );
          this.uuids.set(key, p);
        }
        return p;
      });
      await Promise.all(batch);
    }
    const known = new Map<string, string | undefined>();
    for (const [cls, ref] of refs) known.set(`${cls} ${ref}`, await this.uuids.get(`${cls} ${ref}`));
    return (cls, ref) => known.get(`${cls} ${ref}`);
  }
}

function formatOf(f: string | undefined): Format {
  return f === 'json' || f === 'yaml' ? f : 'xml';
}

async function* exportAll(
  exporter: Exporter,
  objects: ApiObject[],
  path: string[],
  noun: NounSpec,
): AsyncGenerator<string> {
  if (path.length === 0) await exporter.prefetchLinks(objects);
  for (const o of objects)
    yield* exporter.object(o, path, objectLabel(noun.name, o, noun.nameField), noun.nameField);
}

export function exportVerb(): VerbSpec {
  return {
    name: 'export',
    summary: 'dump the selected objects, or the sub-entries a path of fields leads to',
    examples: [
      'berth host -n host01 export',
      'berth host -n host01 export PIFs',
      "berth vm -s 'power_state=Running' export name_label",
      'berth -o json vm -n web01 export',
    ],
    target: 'many',
    run: async (ctx, target) => {
      const objects = Array.isArray(target) ? target : target ? [target] : [];
      const path = ctx.args;
      // The first word is checked on every object before anything is printed (a typo fails at once).
      if (path.length > 0)
        for (const o of objects)
          if (fieldOf(o.record, path[0], ctx.noun.nameField) === undefined)
            throw missing(path[0], objectLabel(ctx.noun.name, o, ctx.noun.nameField));
      const { REF_FIELDS } = await import('../../../shared/datamodel/generated/ref-fields.js');
      const exporter = new Exporter(ctx.api, REF_FIELDS, formatOf(ctx.out.format));
      return exportAll(exporter, objects, path, ctx.noun);
    },
  };
}
