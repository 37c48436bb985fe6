// xapi's HTTP actions of the data plane and statistics (datamodel.ml `http_actions`): the RBAC
// permission each needs is `http/<name>`, held by the roles listed there (data plane:
// _R_VM_ADMIN; RRD reads: _R_READ_ONLY).
// (No import of auth/roles.ts: it imports this table.)

/** xapi's _R_VM_ADMIN. */
const VM_ADMIN: readonly string[] = ['pool-admin', 'pool-operator', 'vm-power-admin', 'vm-admin'];

/** xapi's _R_READ_ONLY: every role. */
const READ_ONLY: readonly string[] = [...VM_ADMIN, 'vm-operator', 'read-only'];

export interface HttpAction {
  /** The permission name as RBAC reports it: `http/get_export`. */
  permission: string;
  method: 'GET' | 'PUT';
  /** The URI xapi serves it on. */
  uri: string;
  roles: readonly string[];
}

export const HTTP_ACTIONS = {
  'http/put_import': { permission: 'http/put_import', method: 'PUT', uri: '/import', roles: VM_ADMIN },
  'http/put_import_metadata': {
    permission: 'http/put_import_metadata',
    method: 'PUT',
    uri: '/import_metadata',
    roles: VM_ADMIN,
  },
  'http/put_import_raw_vdi': {
    permission: 'http/put_import_raw_vdi',
    method: 'PUT',
    uri: '/import_raw_vdi',
    roles: VM_ADMIN,
  },
  'http/get_export': { permission: 'http/get_export', method: 'GET', uri: '/export', roles: VM_ADMIN },
  'http/get_export_metadata': {
    permission: 'http/get_export_metadata',
    method: 'GET',
    uri: '/export_metadata',
    roles: VM_ADMIN,
  },
  'http/get_export_raw_vdi': {
    permission: 'http/get_export_raw_vdi',
    method: 'GET',
    uri: '/export_raw_vdi',
    roles: VM_ADMIN,
  },
  'http/get_vm_rrd': { permission: 'http/get_vm_rrd', method: 'GET', uri: '/vm_rrd', roles: READ_ONLY },
  'http/get_host_rrd': { permission: 'http/get_host_rrd', method: 'GET', uri: '/host_rrd', roles: READ_ONLY },
  'http/get_sr_rrd': { permission: 'http/get_sr_rrd', method: 'GET', uri: '/sr_rrd', roles: READ_ONLY },
  'http/get_rrd_updates': {
    permission: 'http/get_rrd_updates',
    method: 'GET',
    uri: '/rrd_updates',
    roles: READ_ONLY,
  },
} as const satisfies Record<string, HttpAction>;

export type HttpActionName = keyof typeof HTTP_ACTIONS;
