// The RBAC permission of GET /metrics: statistics are read-only, so every role holds it (xapi's
// _R_READ_ONLY, like its rrd handlers). No imports: auth/roles.ts lists it among the permissions.
export const METRICS_PERMISSION = {
  name: 'http/get_metrics',
  roles: ['pool-admin', 'pool-operator', 'vm-power-admin', 'vm-admin', 'vm-operator', 'read-only'],
} as const;
