// VM operation checks as xapi's xapi_vm_lifecycle does them: which operations a VM in a given
// state may run (allowed_operations) and the first error an invalid one raises. Pure functions.
import { XenApiError } from '../../shared/errors.js';
import type { Row } from '../db/database.js';

export type PowerState = 'Halted' | 'Paused' | 'Running' | 'Suspended';
const ALL: PowerState[] = ['Halted', 'Paused', 'Running', 'Suspended'];

/** Power states each operation needs (xapi_vm_lifecycle.allowed_power_states). */
export function allowedPowerStates(op: string, vm: Row): PowerState[] {
  switch (op) {
    case 'start':
    case 'start_on':
    case 'provision':
    case 'make_into_template':
    case 'changing_shadow_memory':
    case 'changing_NVRAM':
    case 'create_vtpm':
      return ['Halted'];
    case 'changing_VCPUs':
    case 'changing_static_range':
    case 'changing_memory_limits':
      return vm.is_control_domain ? ['Halted', 'Running'] : ['Halted'];
    case 'unpause':
      return ['Paused'];
    case 'resume':
    case 'resume_on':
    case 'csvm':
      return ['Suspended'];
    case 'pause':
    case 'suspend':
    case 'clean_shutdown':
    case 'clean_reboot':
    case 'pool_migrate':
    case 'send_sysrq':
    case 'send_trigger':
    case 'call_plugin':
    case 'changing_memory_live':
    case 'awaiting_memory_live':
    case 'changing_VCPUs_live':
    case 'changing_shadow_memory_live':
    case 'data_source_op':
    case 'snapshot_with_quiesce':
    case 'sysprep':
      return ['Running'];
    case 'changing_dynamic_range':
      return ['Halted', 'Running'];
    case 'clone':
    case 'copy':
      return vm.is_a_snapshot ? ['Halted', 'Suspended'] : ['Halted'];
    case 'destroy':
    case 'export':
    case 'create_template':
      return ['Halted', 'Suspended'];
    case 'hard_reboot':
      return ['Paused', 'Running'];
    case 'hard_shutdown':
    case 'shutdown':
    case 'checkpoint':
    case 'get_boot_record':
      return ['Paused', 'Suspended', 'Running'];
    case 'migrate_send':
      return ['Halted', 'Suspended', 'Running'];
    case 'import':
      return [];
    default:
      return ALL;
  }
}

/** Operations never listed in allowed_operations. */
const NEVER_LISTED = new Set([
  'create_template',
  'power_state_reset',
  'csvm',
  'get_boot_record',
  'send_sysrq',
  'send_trigger',
  'query_services',
  'shutdown',
  'call_plugin',
  'changing_memory_live',
  'awaiting_memory_live',
  'changing_memory_limits',
  'changing_shadow_memory_live',
  'changing_VCPUs',
  'assert_operation_valid',
  'data_source_op',
  'update_allowed_operations',
  'import',
  'reverting',
]);

/** Operations Berth cannot perform at all yet (no VTPM, no quiesce, no sysprep). */
const UNSUPPORTED = new Set(['migrate_send', 'create_vtpm', 'snapshot_with_quiesce', 'sysprep']);

const TEMPLATE_OPS = new Set([
  'changing_memory_limits',
  'changing_static_range',
  'changing_dynamic_range',
  'changing_shadow_memory',
  'changing_VCPUs',
  'changing_NVRAM',
  'clone',
  'copy',
  'export',
  'metadata_export',
  'provision',
]);
const SNAPSHOT_OPS = new Set([
  'revert',
  'clone',
  'copy',
  'export',
  'destroy',
  'hard_shutdown',
  'metadata_export',
]);

/** May `op` run while `running` is in progress (xapi's allowed overlaps)? */
function canOverlap(op: string, running: string): boolean {
  const group = (s: string) =>
    ['clone', 'copy', 'export'].includes(s) ? 'copy' : ['snapshot', 'checkpoint'].includes(s) ? 'snap' : s;
  if (group(op) === group(running) && (group(op) === 'copy' || group(op) === 'snap')) return true;
  if (op === 'get_boot_record' && running === 'get_boot_record') return true;
  if (op === 'snapshot' && running === 'snapshot_with_quiesce') return true;
  if (running === 'migrate_send' && ['metadata_export', 'clean_shutdown', 'clean_reboot'].includes(op))
    return true;
  if (op === 'hard_shutdown') return running !== 'hard_shutdown';
  if (op === 'hard_reboot') return running !== 'hard_shutdown' && running !== 'hard_reboot';
  return false;
}

/** The first error `op` would raise on this VM, or undefined if it may run. */
export function checkOperation(ref: string, vm: Row, op: string, strict = false): XenApiError | undefined {
  const blocked = (vm.blocked_operations as Record<string, string>)?.[op];
  if (blocked !== undefined) return new XenApiError('OPERATION_BLOCKED', [ref, blocked]);
  const power = vm.power_state as PowerState;
  const states = allowedPowerStates(op, vm);
  if (!states.includes(power)) {
    return new XenApiError('VM_BAD_POWER_STATE', [
      ref,
      states.map((s) => s.toLowerCase()).join(', '),
      power.toLowerCase(),
    ]);
  }
  const current = Object.entries((vm.current_operations as Record<string, string>) ?? {});
  const conflicts = current.filter(([, running]) => !canOverlap(op, running));
  if (conflicts.length) {
    const ops = conflicts.map(([, o]) => o);
    const tasks = conflicts.map(([t]) => t);
    return new XenApiError('OTHER_OPERATION_IN_PROGRESS', [
      'VM',
      ref,
      ops.length === 1 ? ops[0] : `{${ops.join(',')}}`,
      tasks.length === 1 ? tasks[0] : `{${tasks.join(',')}}`,
    ]);
  }
  if (vm.is_a_template && !vm.is_a_snapshot) {
    const ok =
      TEMPLATE_OPS.has(op) || ((op === 'destroy' || op === 'migrate_send') && !vm.is_default_template);
    if (!ok) return new XenApiError('VM_IS_TEMPLATE', [ref, op]);
  }
  if (vm.is_a_snapshot && !SNAPSHOT_OPS.has(op)) return new XenApiError('VM_IS_SNAPSHOT', [ref, op]);
  if (op === 'provision' && !vm.is_a_template)
    return new XenApiError('PROVISION_ONLY_ALLOWED_ON_TEMPLATE', []);
  if (op === 'revert' && !vm.is_a_snapshot) return new XenApiError('REVERT_ONLY_ALLOWED_ON_SNAPSHOT', []);
  if (vm.is_control_domain) {
    if (op === 'changing_VCPUs' || op === 'destroy')
      return new XenApiError('OPERATION_NOT_ALLOWED', ['This operation is not allowed on dom0']);
    if (
      ![
        'snapshot',
        'metadata_export',
        'changing_memory_limits',
        'changing_static_range',
        'changing_dynamic_range',
      ].includes(op)
    ) {
      return new XenApiError('OPERATION_NOT_ALLOWED', ['This operation is not allowed on a control domain']);
    }
  }
  // xapi removed VSS: no guest agent can quiesce (Xapi_vm_lifecycle.check_operation_error).
  if (op === 'snapshot_with_quiesce') return new XenApiError('VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED', [ref]);
  if (strict && UNSUPPORTED.has(op))
    return new XenApiError('OPERATION_NOT_ALLOWED', [`${op} is not supported by Berth yet`]);
  return undefined;
}

export function assertOperationValid(ref: string, vm: Row, op: string): void {
  const e = checkOperation(ref, vm, op);
  if (e) throw e;
}

/** allowed_operations for the VM's current state. */
export function allowedOperations(ref: string, vm: Row, allOps: readonly string[]): string[] {
  return allOps.filter((op) => !NEVER_LISTED.has(op) && checkOperation(ref, vm, op, true) === undefined);
}
