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
import {
  BERTH_UNSUPPORTED,
  PLAIN_VM_OTHER_ERROR,
  STATES,
  type State,
  XAPI_NEVER_LISTED,
  XAPI_POWER_STATES,
} from './xapi-power-table.js';

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
