// Query parameters naming objects, resolved as xapi's handlers do: a value is a ref if such an
// object exists, else a uuid (`vdi=`, `base=` accept either); `ref=` must be a ref and `uuid=` a
// uuid. Unknown objects: HANDLE_INVALID / UUID_INVALID; a missing parameter: 400.
import { XenApiError } from '../../../shared/errors.js';
import type { Database } from '../../db/database.js';
import { badRequest } from './errors.js';
import type { DataQuery } from './query.js';

/** A ref of `cls` that exists, else HANDLE_INVALID. */
export function existingRef(db: Database, cls: string, ref: string): string {
  if (!db.has(cls, ref)) throw new XenApiError('HANDLE_INVALID', [cls, ref]);
  return ref;
}

/** The object of `cls` with this uuid, else UUID_INVALID. */
export function refOfUuid(db: Database, cls: string, uuid: string): string {
  const ref = db.refByUuid(cls, uuid);
  if (!ref) throw new XenApiError('UUID_INVALID', [cls, uuid]);
  return ref;
}

/** A value that is a ref or a uuid of `cls` (xapi's vdi_of_req). */
export function refOrUuid(db: Database, cls: string, value: string): string {
  if (db.has(cls, value)) return value;
  if (value.startsWith('OpaqueRef:')) throw new XenApiError('HANDLE_INVALID', [cls, value]);
  return refOfUuid(db, cls, value);
}

/** `ref=` (a ref) else `uuid=` (a uuid) of `cls`; 400 when neither is given. */
export function objectOf(db: Database, q: DataQuery, cls: string): string {
  const ref = q.get('ref');
  if (ref !== undefined) return existingRef(db, cls, ref);
  const uuid = q.get('uuid');
  if (uuid !== undefined) return refOfUuid(db, cls, uuid);
  throw badRequest(new XenApiError('INVALID_VALUE', ['ref', 'missing ref or uuid query parameter']));
}

/** A parameter holding a ref or uuid of `cls` (e.g. `vdi`, `base`); undefined when absent. */
export function optionalRefOrUuid(db: Database, q: DataQuery, name: string, cls: string): string | undefined {
  const v = q.get(name);
  return v === undefined ? undefined : refOrUuid(db, cls, v);
}

/** `sr_id` (a ref) else `sr_uuid`; undefined when neither is given. */
export function srOf(db: Database, q: DataQuery): string | undefined {
  const ref = q.credential('sr_id');
  if (ref !== undefined) return existingRef(db, 'SR', ref);
  const uuid = q.credential('sr_uuid');
  return uuid === undefined ? undefined : refOfUuid(db, 'SR', uuid);
}
