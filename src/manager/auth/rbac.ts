// Role-based access control, checked on every call as xapi does: the local superuser passes;
// anyone else needs a role allowed for the message, or, for add_to_/remove_from_ on a protected
// map key (VM.other_config `folder`, `XenCenter.CustomFields.*`), a role allowed for that key.
import type { FieldSpec, MessageSpec, Model } from '../../shared/datamodel/model-types.js';
import { XenApiError } from '../../shared/errors.js';
import type { SessionInfo } from './sessions.js';

export interface Permission {
  /** Lower-cased permission name as reported in RBAC_PERMISSION_DENIED. */
  name: string;
  roles: readonly string[];
}

/** The protected-key pattern matching `key` (`prefix.*` is a prefix wildcard), if any. */
export function protectedKey(field: FieldSpec, key: string): string | undefined {
  if (!field.mapKeyRoles) return undefined;
  for (const pattern of Object.keys(field.mapKeyRoles)) {
    if (pattern.endsWith('*') ? key.startsWith(pattern.slice(0, -1)) : key === pattern) return pattern;
  }
  return undefined;
}

/** The permission a call needs, given its decoded arguments (the map key for add_to/remove_from). */
export function requiredPermission(model: Model, msg: MessageSpec, args: readonly unknown[]): Permission {
  const kind = msg.implicit || msg.generic;
  if ((kind === 'map_add' || kind === 'map_remove') && msg.field && typeof args[1] === 'string') {
    const field = model.classes[msg.cls].fields.find((f) => f.name === msg.field);
    const pattern = field && protectedKey(field, args[1]);
    if (field?.mapKeyRoles && pattern) {
      return { name: `${msg.wire}/key:${pattern}`.toLowerCase(), roles: field.mapKeyRoles[pattern] };
    }
  }
  return { name: msg.wire.toLowerCase(), roles: msg.roles };
}

export function deniedError(p: Permission): XenApiError {
  return new XenApiError('RBAC_PERMISSION_DENIED', [
    p.name,
    `No permission in user session. (Roles with this permission: ${p.roles.join(', ')})`,
  ]);
}

export function checkPermission(session: SessionInfo, p: Permission): void {
  if (session.superuser) return;
  if (session.role && p.roles.includes(session.role)) return;
  throw deniedError(p);
}
