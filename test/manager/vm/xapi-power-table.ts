// xapi's VM power-state table (Xapi_vm_lifecycle.allowed_power_states), transcribed from
// /work/shared/reference/xenapi-wire-and-model.md §4 as data, NOT derived from
// src/manager/vm/lifecycle.ts, so the tests compare Berth against xapi rather than against itself.

export type State = 'Halted' | 'Paused' | 'Running' | 'Suspended';
export const STATES: State[] = ['Halted', 'Paused', 'Running', 'Suspended'];
export const ANY: State[] = ['Halted', 'Paused', 'Running', 'Suspended'];

/** xapi's table, in xapi's order of states (the order VM_BAD_POWER_STATE lists them in). */
export const XAPI_POWER_STATES: Record<string, State[]> = {
  ...Object.fromEntries(
    [
      'start',
      'start_on',
      'provision',
      'make_into_template',
      'changing_shadow_memory',
      'changing_NVRAM',
      'create_vtpm',
    ].map((op) => [op, ['Halted']]),
  ),
  changing_VCPUs: ['Halted'],
  changing_static_range: ['Halted'],
  changing_memory_limits: ['Halted'],
  unpause: ['Paused'],
  resume: ['Suspended'],
  resume_on: ['Suspended'],
  csvm: ['Suspended'],
  ...Object.fromEntries(
    [
      'pause',
      'suspend',
      'clean_shutdown',
      'clean_reboot',
      'pool_migrate',
      'send_sysrq',
      'send_trigger',
      'call_plugin',
      'changing_memory_live',
      'awaiting_memory_live',
      'changing_VCPUs_live',
      'changing_shadow_memory_live',
      'data_source_op',
      'snapshot_with_quiesce',
      'sysprep',
    ].map((op) => [op, ['Running']]),
  ),
  changing_dynamic_range: ['Halted', 'Running'],
  clone: ['Halted'],
  copy: ['Halted'],
  destroy: ['Halted', 'Suspended'],
  export: ['Halted', 'Suspended'],
  create_template: ['Halted', 'Suspended'],
  hard_reboot: ['Paused', 'Running'],
  hard_shutdown: ['Paused', 'Suspended', 'Running'],
  shutdown: ['Paused', 'Suspended', 'Running'],
  checkpoint: ['Paused', 'Suspended', 'Running'],
  get_boot_record: ['Paused', 'Suspended', 'Running'],
  migrate_send: ['Halted', 'Suspended', 'Running'],
  ...Object.fromEntries(
    [
      'snapshot',
      'revert',
      'reverting',
      'metadata_export',
      'power_state_reset',
      'assert_operation_valid',
      'update_allowed_operations',
      'query_services',
    ].map((op) => [op, ANY]),
  ),
  import: [],
};

/** xapi never lists these in allowed_operations (same reference, §4). */
export const XAPI_NEVER_LISTED = new Set(
  'create_template power_state_reset csvm get_boot_record send_sysrq send_trigger query_services shutdown call_plugin changing_memory_live awaiting_memory_live changing_memory_limits changing_shadow_memory_live changing_VCPUs assert_operation_valid data_source_op update_allowed_operations import reverting'.split(
    ' ',
  ),
);

/** Berth's documented deviation (docs/decisions.md): operations it cannot do are never offered. */
export const BERTH_UNSUPPORTED = new Set(['migrate_send', 'create_vtpm', 'sysprep']);

/** Later checks that fail for a plain VM whatever its power state (steps 6 of xapi's order). */
export const PLAIN_VM_OTHER_ERROR: Record<string, string> = {
  provision: 'PROVISION_ONLY_ALLOWED_ON_TEMPLATE',
  revert: 'REVERT_ONLY_ALLOWED_ON_SNAPSHOT',
  // xapi removed VSS (Xapi_vm_lifecycle): [VM ref].
  snapshot_with_quiesce: 'VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED',
};
