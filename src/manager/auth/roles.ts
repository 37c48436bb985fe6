// xapi's static RBAC roles and the permission objects derived from the datamodel. Role refs and
// uuids are fixed (MD5 of the name, formatted as a uuid), so clients can hard-code them.
import { createHash } from 'node:crypto';
import type { Model } from '../../shared/datamodel/model-types.js';
import { HTTP_ACTIONS } from '../http/data/actions.js';
import { METRICS_PERMISSION } from '../stats/prometheus/permission.js';

/** Most to least privileged; each role has every permission of the roles after it. */
export const ROLE_NAMES = [
  'pool-admin',
  'pool-operator',
  'vm-power-admin',
  'vm-admin',
  'vm-operator',
  'read-only',
] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export const ROLE_DESCRIPTIONS: Record<RoleName, string> = {
  'pool-admin':
    'The Pool Administrator role has full access to all features and settings, including accessing Dom0 and managing subjects, roles and external authentication',
  'pool-operator':
    'The Pool Operator role manages host- and pool-wide resources, including setting up storage, creating resource pools and managing patches, high availability (HA) and workload balancing (WLB)',
  'vm-power-admin':
    'The VM Power Administrator role has full access to VM and template management and can choose where to start VMs and use the dynamic memory control and VM snapshot features',
  'vm-admin': 'The VM Administrator role can manage VMs and templates',
  'vm-operator': 'The VM Operator role can use VMs and interact with VM consoles',
  'read-only': 'The Read-Only role can log in with basic read-only access',
};

export function isRoleName(s: string): s is RoleName {
  return (ROLE_NAMES as readonly string[]).includes(s);
}

/** MD5 of a string formatted as a uuid, as xapi derives role uuids. */
export function md5Uuid(s: string): string {
  const h = createHash('md5').update(s).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const roleRef = (name: string) => `OpaqueRef:${md5Uuid(name)}`;

export interface PermissionSpec {
  /** Original-case name (uuid source), e.g. `VM.start`, `VM.add_to_other_config/key:folder`. */
  name: string;
  roles: string[];
}

/** Every permission: one per message, one per protected map key, plus task.destroy/any. */
export function permissions(model: Model): PermissionSpec[] {
  const out = new Map<string, PermissionSpec>();
  for (const c of Object.values(model.classes)) {
    for (const m of c.messages) {
      out.set(m.wire, { name: m.wire, roles: m.roles });
      const field = m.field ? c.fields.find((f) => f.name === m.field) : undefined;
      const kind = m.implicit || m.generic;
      if (field?.mapKeyRoles && (kind === 'map_add' || kind === 'map_remove')) {
        for (const [key, roles] of Object.entries(field.mapKeyRoles)) {
          const name = `${m.wire}/key:${key}`;
          out.set(name, { name, roles });
        }
      }
    }
  }
  out.set('task.destroy/any', { name: 'task.destroy/any', roles: ['pool-admin', 'pool-operator'] });
  out.set('http/connect_console', { name: 'http/connect_console', roles: [...ROLE_NAMES.slice(0, 5)] });
  out.set(METRICS_PERMISSION.name, { name: METRICS_PERMISSION.name, roles: [...METRICS_PERMISSION.roles] });
  for (const a of Object.values(HTTP_ACTIONS))
    out.set(a.permission, { name: a.permission, roles: [...a.roles] });
  return [...out.values()];
}

/** Lower-cased permission names granted to a role. */
export function rolePermissions(model: Model, role: RoleName): string[] {
  return permissions(model)
    .filter((p) => p.roles.includes(role))
    .map((p) => p.name.toLowerCase());
}
