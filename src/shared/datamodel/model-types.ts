// Shapes of the normalised datamodel that tools/generate-datamodel.ts produces from
// xenapi-datamodel.json. Dispatch, codecs, store, RBAC, docs and SDK types all read these.
import type { TypeDesc } from './types.js';

export type Qualifier = 'RW' | 'RO/constructor' | 'RO/runtime';
export type Lifecycle = 'published' | 'prototyped' | 'deprecated' | 'removed';

export interface FieldSpec {
  /** Wire name, e.g. `name_label`. */
  name: string;
  /** Database column name as xapi's where-expressions spell it, e.g. `name__label`. */
  column: string;
  type: TypeDesc;
  qualifier: Qualifier;
  /** Internal value used when a record omits the field; undefined = required in `create`. */
  default?: unknown;
  lifecycle: Lifecycle;
  /** Protected map keys (`folder`, `XenCenter.CustomFields.*`) and the roles allowed to change them. */
  mapKeyRoles?: Record<string, string[]>;
}

export type ImplicitKind =
  | 'get_record'
  | 'get_by_uuid'
  | 'get_by_name_label'
  | 'get_all'
  | 'get_all_records'
  | 'get_all_records_where'
  | 'get_all_where'
  | 'getter'
  | 'setter'
  | 'map_add'
  | 'map_remove'
  | 'set_add'
  | 'set_remove'
  | 'create'
  | 'destroy';

export interface ParamSpec {
  name: string;
  type: TypeDesc;
  required: boolean;
  /** Internal value for an optional trailing parameter the caller left out. */
  default?: unknown;
}

export interface MessageSpec {
  cls: string;
  name: string;
  /** `Class.message`, as dispatched. */
  wire: string;
  /** True when the first wire parameter is a session ref (not part of `params`). */
  session: boolean;
  params: ParamSpec[];
  result: TypeDesc;
  /** Roles allowed to call it (RBAC); empty = local superuser only. */
  roles: string[];
  async: boolean;
  implicit: ImplicitKind | false;
  /** For explicit messages that are plain field accessors (custom roles): the generic operation. */
  generic?: ImplicitKind;
  /** The field an implicit getter/setter/map/set message works on. */
  field?: string;
  lifecycle: Lifecycle;
  errors: string[];
  /** A message Berth adds to a XenAPI class (datamodel/extensions/*.json), not XenAPI's. */
  extension?: 'berth';
}

export interface RelationSpec {
  /** The `ref set` field maintained by the server on this class, e.g. VM.VBDs. */
  field: string;
  /** The class and `ref` field on the other side, e.g. VBD.VM. */
  otherClass: string;
  otherField: string;
}

export interface ClassSpec {
  name: string;
  fields: FieldSpec[];
  messages: MessageSpec[];
  /** Stored in the database (has objects with refs and uuids). */
  inDb: boolean;
  /** Changes produce event.from events. */
  genEvents: boolean;
  /** get_all / get_all_records / *_where are on the wire. */
  exposeGetAll: boolean;
  /** One-to-many `ref set` fields this class owns (derived, not stored). */
  relations: RelationSpec[];
  lifecycle: Lifecycle;
  /** A class of Berth's own (berth-extensions.json), not XenAPI's. */
  extension?: 'berth';
}

export interface Model {
  apiVersion: { major: number; minor: number };
  classes: Record<string, ClassSpec>;
  enums: Record<string, string[]>;
}
