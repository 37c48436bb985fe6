// Generic operations for the implicit messages of every stored class (get_record, get_by_uuid,
// get_<field>, set_<field>, add_to_/remove_from_, add_/remove_, create, destroy, get_all*),
// with xapi's errors. Built once per message from the datamodel.
import type { ClassSpec, FieldSpec, MessageSpec } from '../../shared/datamodel/model-types.js';
import { NULL_REF, type TypeDesc } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { compileWhere, parseWhere } from '../db/where.js';
import type { Database, Row } from '../db/database.js';
import { setterRule } from '../validation/setter-rules.js';
import type { CallContext, Handler } from './context.js';
import { applySetter } from './setters.js';

/** Checks that every ref inside a value of type `t` names an existing object of its class. */
export function checkRefs(db: Database, t: TypeDesc, v: unknown): void {
  switch (t.kind) {
    case 'ref':
      if (v !== NULL_REF && v !== '' && db.model.classes[t.cls]?.inDb && !db.has(t.cls, v as string)) {
        throw new XenApiError('HANDLE_INVALID', [t.cls, String(v)]);
      }
      return;
    case 'set':
      if (t.of.kind === 'ref') for (const x of v as unknown[]) checkRefs(db, t.of, x);
      return;
    case 'map':
      if (t.value.kind === 'ref') for (const x of Object.values(v as object)) checkRefs(db, t.value, x);
      return;
    default:
      return;
  }
}

const fieldOf = (cls: ClassSpec, name: string): FieldSpec => {
  const f = cls.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${cls.name}.${name}`);
  return f;
};

function recordsWhere(db: Database, cls: ClassSpec, expr: string): [string, Row][] {
  const pred = compileWhere(parseWhere(expr));
  const byColumn = new Map(cls.fields.map((f) => [f.column, f]));
  for (const f of cls.fields) if (!byColumn.has(f.name)) byColumn.set(f.name, f);
  const out: [string, Row][] = [];
  for (const [ref, row] of db.all(cls.name)) {
    const get = (col: string) => {
      const f = byColumn.get(col);
      if (!f) return undefined;
      const v = row[f.name];
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    };
    if (pred(get)) out.push([ref, row]);
  }
  return out;
}

/** Required keys of a `create` record: RO/constructor and RW fields without a default. */
export function createKeys(cls: ClassSpec): { required: FieldSpec[]; optional: FieldSpec[] } {
  const settable = cls.fields.filter((f) => f.qualifier !== 'RO/runtime' && f.name !== 'uuid');
  return {
    required: settable.filter((f) => f.default === undefined),
    optional: settable.filter((f) => f.default !== undefined),
  };
}

/** Validates and completes a `create` record (RO/runtime keys ignored, as xapi does). */
export function createRecord(db: Database, cls: ClassSpec, rec: Row): Row {
  const { required, optional } = createKeys(cls);
  const out: Row = {};
  for (const f of required) {
    if (!(f.name in rec))
      throw new XenApiError('INTERNAL_ERROR', [`Server_helpers.Dispatcher_FieldNotFound("${f.name}")`]);
    out[f.name] = rec[f.name];
  }
  for (const f of optional) if (f.name in rec) out[f.name] = rec[f.name];
  for (const f of [...required, ...optional]) if (f.name in out) checkRefs(db, f.type, out[f.name]);
  return out;
}

/**
 * The update a generic field accessor makes (undefined: nothing to change), with xapi's
 * MAP_DUPLICATE_KEY for an existing key.
 */
function fieldUpdate(
  kind: string,
  cls: string,
  f: FieldSpec,
): (row: Row, self: string, args: unknown[]) => Row | undefined {
  switch (kind) {
    case 'setter':
      return (_row, _self, [value]) => ({ [f.name]: value });
    case 'map_add':
      return (row, self, [key, value]) => {
        const map = (row[f.name] ?? {}) as Record<string, unknown>;
        if (Object.hasOwn(map, key as string))
          throw new XenApiError('MAP_DUPLICATE_KEY', [cls, f.column, self, String(key)]);
        return { [f.name]: { ...map, [key as string]: value } };
      };
    case 'map_remove':
      return (row, _self, [key]) => {
        const map = (row[f.name] ?? {}) as Record<string, unknown>;
        if (!Object.hasOwn(map, key as string)) return undefined;
        const { [key as string]: _gone, ...rest } = map;
        return { [f.name]: rest };
      };
    case 'set_add':
      return (row, _self, [value]) => {
        const set = (row[f.name] ?? []) as unknown[];
        return set.includes(value) ? undefined : { [f.name]: [...set, value] };
      };
    default:
      return (row, _self, [value]) => {
        const set = (row[f.name] ?? []) as unknown[];
        return set.includes(value) ? { [f.name]: set.filter((x) => x !== value) } : undefined;
      };
  }
}

export function implicitHandler(cls: ClassSpec, msg: MessageSpec): Handler | undefined {
  const name = cls.name;
  switch (msg.implicit) {
    case 'get_record':
      // The live row (read-only by contract), so its serialised form can be cached.
      return (ctx, self: string) => ctx.svc.db.mustGet(name, self);
    case 'get_by_uuid':
      return (ctx, uuid: string) => {
        const ref = ctx.svc.db.refByUuid(name, uuid);
        if (!ref) throw new XenApiError('UUID_INVALID', [name, uuid]);
        return ref;
      };
    case 'get_by_name_label':
      return (ctx, label: string) => {
        const out: string[] = [];
        for (const [ref, row] of ctx.svc.db.all(name)) if (row.name_label === label) out.push(ref);
        return out;
      };
    case 'get_all':
      return (ctx) => [...ctx.svc.db.all(name).keys()];
    case 'get_all_records':
      return (ctx) => {
        const out: Record<string, Row> = {};
        for (const [ref, row] of ctx.svc.db.all(name)) out[ref] = row;
        return out;
      };
    case 'get_all_records_where':
      return (ctx, expr: string) => Object.fromEntries(recordsWhere(ctx.svc.db, cls, expr));
    case 'get_all_where':
      return (ctx, expr: string) => recordsWhere(ctx.svc.db, cls, expr).map(([ref]) => ref);
    case 'getter': {
      const field = msg.field!;
      return (ctx, self: string) => {
        const v = ctx.svc.db.mustGet(name, self)[field];
        return typeof v === 'object' && v !== null ? structuredClone(v) : v;
      };
    }
    case 'setter':
    case 'map_add':
    case 'map_remove':
    case 'set_add':
    case 'set_remove': {
      const f = fieldOf(cls, msg.field!);
      const update = fieldUpdate(msg.implicit, name, f);
      // The refs a call brings in must name existing objects (HANDLE_INVALID).
      const refs = (ctx: CallContext, args: unknown[]) => {
        if (msg.implicit === 'setter') checkRefs(ctx.svc.db, f.type, args[0]);
        if (msg.implicit === 'set_add' && f.type.kind === 'set') checkRefs(ctx.svc.db, f.type.of, args[0]);
      };
      // xapi implements some accessors by hand, with checks and side effects (setter-rules.ts).
      if (setterRule(msg.wire)) {
        return (ctx, self: string, ...args: unknown[]) =>
          applySetter(
            ctx,
            msg,
            self,
            args,
            (row) => update(row, self, args),
            () => refs(ctx, args),
          );
      }
      return (ctx: CallContext, self: string, ...args: unknown[]) => {
        const write = update(ctx.svc.db.mustGet(name, self), self, args);
        if (!write) return;
        refs(ctx, args);
        ctx.svc.db.update(name, self, write);
      };
    }
    case 'create':
      return (ctx, rec: Row) => ctx.svc.db.create(name, createRecord(ctx.svc.db, cls, rec));
    case 'destroy':
      return (ctx, self: string) => {
        ctx.svc.db.mustGet(name, self);
        ctx.svc.db.destroy(name, self);
      };
    default:
      return undefined;
  }
}
