// How long the manager waits for each agent procedure, by class as Ganeti's RPC timeouts
// (lib/rpc_defs.py): URGENT for queries that only read state, FAST for short host changes,
// NORMAL for instance lifecycle, SLOW for bulk data (disk copies, imports). A caller may pass its
// own timeout for one call (e.g. a shutdown that waits for the guest for a given time).

export type RpcClass = 'URGENT' | 'FAST' | 'NORMAL' | 'SLOW';

/** Ganeti's values (seconds: URGENT 60, FAST 300, NORMAL 900, SLOW 3600), in milliseconds. */
export const RPC_CLASS_MS: Readonly<Record<RpcClass, number>> = {
  URGENT: 60_000,
  FAST: 300_000,
  NORMAL: 900_000,
  SLOW: 3_600_000,
};

/** Class of each procedure; a procedure not listed is NORMAL. */
export const PROCEDURE_CLASS: Readonly<Record<string, RpcClass>> = {
  version: 'URGENT',
  node_info: 'URGENT',
  instance_info: 'URGENT',
  instance_list: 'URGENT',
  all_instances_info: 'URGENT',
  instance_console: 'URGENT',
  hotplug_supported: 'URGENT',
  host_list_plugins: 'URGENT',
  host_time: 'URGENT',
  instance_migration_status: 'URGENT',
  instance_pause: 'FAST',
  instance_unpause: 'FAST',
  instance_balloon_memory: 'FAST',
  instance_disk_resize: 'FAST',
  hotplug_device: 'FAST',
  tls_install: 'FAST',
  instance_migrate: 'FAST',
  instance_migration_abort: 'FAST',
  instance_start: 'NORMAL',
  instance_shutdown: 'NORMAL',
  instance_reboot: 'NORMAL',
  instance_suspend: 'NORMAL',
  instance_resume: 'NORMAL',
  host_call_plugin: 'NORMAL',
  instance_disk_mirror: 'SLOW',
  // OS definitions (issue 18): scripts write whole disks (the agent's own limit is 1 h).
  instance_os_add: 'SLOW',
  instance_run_rename: 'SLOW',
  os_validate: 'FAST',
  os_diagnose: 'FAST',
  os_get: 'FAST',
};

/** The class of a procedure (NORMAL when it has none). */
export function procedureClass(procedure: string): RpcClass {
  return Object.hasOwn(PROCEDURE_CLASS, procedure) ? PROCEDURE_CLASS[procedure] : 'NORMAL';
}

/** Timeout of a procedure, from its class and the client's overrides of class durations. */
export function procedureTimeout(procedure: string, classMs: Partial<Record<RpcClass, number>> = {}): number {
  const c = procedureClass(procedure);
  return classMs[c] ?? RPC_CLASS_MS[c];
}
