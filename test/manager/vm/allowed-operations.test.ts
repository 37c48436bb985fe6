// allowed_operations and VM_BAD_POWER_STATE for every power state, checked against xapi's own table
// (Xapi_vm_lifecycle.allowed_power_states, transcribed from /work/shared/reference/
// xenapi-wire-and-model.md §4) kept here as data, NOT derived from src/manager/vm/lifecycle.ts.
// A deliberate bug such as "hard_shutdown refused on Suspended" or "unpause allowed on Running"
// must fail here, both in the pure rules and through the API.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { allowedOperations, checkOperation } from '../../../src/manager/vm/lifecycle.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { startManager } from '../../helpers/manager.js';

type State = 'Halted' | 'Paused' | 'Running' | 'Suspended';
const STATES: State[] = ['Halted', 'Paused', 'Running', 'Suspended'];
const ANY: State[] = ['Halted', 'Paused', 'Running', 'Suspended'];

/** xapi's table, in xapi's order of states (the order VM_BAD_POWER_STATE lists them in). */
const XAPI_POWER_STATES: Record<string, State[]> = {
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
const XAPI_NEVER_LISTED = new Set(
  'create_template power_state_reset csvm get_boot_record send_sysrq send_trigger query_services shutdown call_plugin changing_memory_live awaiting_memory_live changing_memory_limits changing_shadow_memory_live changing_VCPUs assert_operation_valid data_source_op update_allowed_operations import reverting'.split(
    ' ',
  ),
);

/** Berth's documented deviation (docs/decisions.md): operations it cannot do are never offered. */
const BERTH_UNSUPPORTED = new Set([
  'pool_migrate',
  'migrate_send',
  'create_vtpm',
  'snapshot_with_quiesce',
  'sysprep',
  'checkpoint',
]);

/** Later checks that fail for a plain VM whatever its power state (steps 6 of xapi's order). */
const PLAIN_VM_OTHER_ERROR: Record<string, string> = {
  provision: 'PROVISION_ONLY_ALLOWED_ON_TEMPLATE',
  revert: 'REVERT_ONLY_ALLOWED_ON_SNAPSHOT',
};

const OPS = MODEL.enums.vm_operations;
const REF = 'OpaqueRef:vm';
const vm = (o: Record<string, unknown> = {}) => ({
  ...baseVmRecord(),
  power_state: 'Halted',
  current_operations: {},
  blocked_operations: {},
  ...o,
});

test('the table covers every vm_operations value of the datamodel', () => {
  assert.deepEqual([...OPS].sort(), Object.keys(XAPI_POWER_STATES).sort());
});

for (const state of STATES) {
  test(`checkOperation on a plain ${state} VM follows xapi's power-state table for every op`, () => {
    for (const op of OPS) {
      const allowed = XAPI_POWER_STATES[op];
      const err = checkOperation(REF, vm({ power_state: state }), op)?.description;
      if (allowed.includes(state)) {
        const other = PLAIN_VM_OTHER_ERROR[op];
        assert.deepEqual(err, other ? [other] : undefined, `${op} in ${state}`);
      } else {
        assert.deepEqual(
          err,
          ['VM_BAD_POWER_STATE', REF, allowed.map((s) => s.toLowerCase()).join(', '), state.toLowerCase()],
          `${op} in ${state}`,
        );
      }
    }
  });

  test(`allowed_operations of a plain ${state} VM is xapi's table less never-listed ops`, () => {
    const expected = OPS.filter(
      (op) =>
        XAPI_POWER_STATES[op].includes(state) &&
        !XAPI_NEVER_LISTED.has(op) &&
        !PLAIN_VM_OTHER_ERROR[op] &&
        !BERTH_UNSUPPORTED.has(op),
    );
    assert.deepEqual(allowedOperations(REF, vm({ power_state: state }), OPS), expected);
  });
}

test('a snapshot may also be cloned/copied while Suspended (xapi: + Suspended for snapshots)', () => {
  const snap = (power_state: State) => vm({ power_state, is_a_snapshot: true });
  for (const op of ['clone', 'copy']) {
    assert.equal(checkOperation(REF, snap('Suspended'), op), undefined, op);
    assert.equal(checkOperation(REF, snap('Halted'), op), undefined, op);
    assert.deepEqual(checkOperation(REF, snap('Running'), op)?.description, [
      'VM_BAD_POWER_STATE',
      REF,
      'halted, suspended',
      'running',
    ]);
  }
});

test('a control domain may change VCPUs/static range/memory limits while Running', () => {
  const dom0 = vm({ power_state: 'Running', is_control_domain: true });
  for (const op of ['changing_static_range', 'changing_memory_limits'])
    assert.equal(checkOperation(REF, dom0, op), undefined, op);
  // changing_VCPUs passes the power-state check but is refused on dom0 later
  assert.deepEqual(checkOperation(REF, dom0, 'changing_VCPUs')?.description, [
    'OPERATION_NOT_ALLOWED',
    'This operation is not allowed on dom0',
  ]);
  assert.deepEqual(
    checkOperation(REF, vm({ is_control_domain: true, power_state: 'Paused' }), 'changing_VCPUs')
      ?.description,
    ['VM_BAD_POWER_STATE', REF, 'halted, running', 'paused'],
  );
});

// The same table through the API: VM.get_allowed_operations after a state change, the errors the
// operations' own messages raise, and VM.assert_operation_valid for the allowed ones.
/** VM messages named after an operation, with the arguments after the VM ref. */
const CALLS: Record<string, unknown[]> = {
  start: [false, false],
  pause: [],
  unpause: [],
  clean_shutdown: [],
  clean_reboot: [],
  hard_shutdown: [],
  hard_reboot: [],
  suspend: [],
  resume: [false, false],
  shutdown: [],
  destroy: [],
  clone: ['copy-of'],
  provision: [],
};

test('through the API: allowed_operations and the operations’ errors in every power state', async (t) => {
  const { manager } = await startManager(t);
  const svc = manager.svc;
  const session = svc.sessions.validate(svc.sessions.localLogin('allowed-ops-test'));
  const call = (m: string, ...args: unknown[]) => svc.call(session, m, args) as Promise<any>;
  const fails = async (m: string, ...args: unknown[]): Promise<string[] | undefined> => {
    try {
      await call(m, ...args);
      return undefined;
    } catch (e) {
      if (e instanceof XenApiError) return e.description;
      throw e;
    }
  };
  const ref: string = await call('VM.create', { ...baseVmRecord(), name_label: 'allowed-ops' });
  for (const state of STATES) {
    svc.db.update('VM', ref, { power_state: state });
    await call('VM.update_allowed_operations', ref);
    const listed: string[] = await call('VM.get_allowed_operations', ref);
    for (const op of ['hard_shutdown', 'unpause', 'start', 'resume', 'pause', 'hard_reboot', 'destroy']) {
      assert.equal(listed.includes(op), XAPI_POWER_STATES[op].includes(state), `${op} listed in ${state}`);
    }
    for (const [op, args] of Object.entries(CALLS)) {
      const allowed = XAPI_POWER_STATES[op];
      if (allowed.includes(state)) {
        if (!PLAIN_VM_OTHER_ERROR[op]) await call('VM.assert_operation_valid', ref, op);
        continue;
      }
      assert.deepEqual(
        await fails(`VM.${op}`, ref, ...args),
        ['VM_BAD_POWER_STATE', ref, allowed.map((s) => s.toLowerCase()).join(', '), state.toLowerCase()],
        `VM.${op} in ${state}`,
      );
      assert.deepEqual(
        await fails('VM.assert_operation_valid', ref, op),
        ['VM_BAD_POWER_STATE', ref, allowed.map((s) => s.toLowerCase()).join(', '), state.toLowerCase()],
        `assert_operation_valid ${op} in ${state}`,
      );
    }
  }
});
