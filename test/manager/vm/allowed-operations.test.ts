// allowed_operations and VM_BAD_POWER_STATE for every power state, checked against xapi's own table
// (Xapi_vm_lifecycle.allowed_power_states, transcribed from /work/shared/reference/
// xenapi-wire-and-model.md §4) kept here as data, NOT derived from src/manager/vm/lifecycle.ts.
// A deliberate bug such as "hard_shutdown refused on Suspended" or "unpause allowed on Running"
// must fail here, both in the pure rules and through the API.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import {
  allowedOperations,
  assertOperationValid,
  checkOperation,
} from '../../../src/manager/vm/lifecycle.js';
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
        assert.deepEqual(err?.slice(0, 1), other ? [other] : undefined, `${op} in ${state}`);
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

// xapi's later checks, in its order (reference §4 steps 1, 3-7), for the operations that pass the
// power-state check.
const desc = (v: Record<string, unknown>, op: string) => checkOperation(REF, vm(v), op)?.description;

test('blocked_operations comes first, even before the power state', () => {
  assert.deepEqual(desc({ power_state: 'Running', blocked_operations: { start: 'why' } }, 'start'), [
    'OPERATION_BLOCKED',
    REF,
    'why',
  ]);
  assert.equal(desc({ blocked_operations: { clone: 'x' } }, 'start'), undefined);
});

test('concurrency: xapi’s allowed overlaps and OTHER_OPERATION_IN_PROGRESS otherwise', () => {
  const running = (ops: Record<string, string>, state = 'Running') => ({
    power_state: state,
    current_operations: ops,
  });
  const ok = (ops: Record<string, string>, op: string, state = 'Running') =>
    assert.equal(desc(running(ops, state), op), undefined, `${op} during ${Object.values(ops)}`);
  const busy = (ops: Record<string, string>, op: string, state = 'Running') =>
    assert.equal(
      desc(running(ops, state), op)?.[0],
      'OTHER_OPERATION_IN_PROGRESS',
      `${op} during ${Object.values(ops)}`,
    );
  for (const a of ['clone', 'copy', 'export'])
    for (const b of ['clone', 'copy', 'export']) ok({ t: a }, b, 'Halted');
  for (const a of ['snapshot', 'checkpoint']) ok({ t: a }, 'snapshot');
  ok({ t: 'get_boot_record' }, 'get_boot_record');
  ok({ t: 'snapshot_with_quiesce' }, 'snapshot');
  for (const op of ['metadata_export', 'clean_shutdown', 'clean_reboot']) ok({ t: 'migrate_send' }, op);
  for (const other of ['clean_shutdown', 'pause', 'snapshot', 'hard_reboot', 'suspend'])
    ok({ t: other }, 'hard_shutdown');
  busy({ t: 'hard_shutdown' }, 'hard_shutdown');
  for (const other of ['clean_shutdown', 'pause', 'snapshot', 'clean_reboot'])
    ok({ t: other }, 'hard_reboot');
  busy({ t: 'hard_shutdown' }, 'hard_reboot');
  busy({ t: 'hard_reboot' }, 'hard_reboot');
  busy({ t: 'clean_shutdown' }, 'pause');
  busy({ t: 'clone' }, 'start', 'Halted');
  busy({ t: 'snapshot' }, 'clone', 'Halted');
  busy({ t: 'clone' }, 'snapshot', 'Halted');
  ok({ t: 'snapshot' }, 'checkpoint');
  busy({ t: 'pause' }, 'clean_shutdown');
  busy({ t: 'migrate_send' }, 'pause');
  busy({ t: 'get_boot_record' }, 'pause');
  busy({ t: 'snapshot' }, 'snapshot_with_quiesce');
  busy({ t: 'export' }, 'snapshot', 'Halted');
  busy({ t: 'pause' }, 'get_boot_record');
  busy({ t: 'snapshot_with_quiesce' }, 'pause');
  busy({ t: 'snapshot_with_quiesce' }, 'clean_shutdown');
  // several conflicting operations are listed in braces
  assert.deepEqual(desc(running({ t1: 'pause', t2: 'suspend' }), 'clean_shutdown'), [
    'OTHER_OPERATION_IN_PROGRESS',
    'VM',
    REF,
    '{pause,suspend}',
    '{t1,t2}',
  ]);
  // only the conflicting ones are named
  assert.deepEqual(desc(running({ t1: 'clean_shutdown', t2: 'hard_shutdown' }), 'hard_shutdown'), [
    'OTHER_OPERATION_IN_PROGRESS',
    'VM',
    REF,
    'hard_shutdown',
    't2',
  ]);
});

test('templates: only changing_*, clone, copy, export, metadata_export, provision (+ destroy unless default)', () => {
  const tpl = { is_a_template: true };
  for (const op of [
    'changing_static_range',
    'changing_dynamic_range',
    'changing_shadow_memory',
    'changing_NVRAM',
    'changing_VCPUs',
    'changing_memory_limits',
    'clone',
    'copy',
    'export',
    'metadata_export',
    'provision',
    'destroy',
  ])
    assert.equal(desc(tpl, op), undefined, op);
  for (const op of ['start', 'start_on', 'snapshot', 'make_into_template', 'revert', 'create_template'])
    assert.deepEqual(desc(tpl, op), ['VM_IS_TEMPLATE', REF, op], op);
  assert.deepEqual(desc({ ...tpl, is_default_template: true }, 'destroy'), [
    'VM_IS_TEMPLATE',
    REF,
    'destroy',
  ]);
  assert.deepEqual(desc({ ...tpl, is_default_template: true }, 'migrate_send'), [
    'VM_IS_TEMPLATE',
    REF,
    'migrate_send',
  ]);
  assert.equal(desc({ ...tpl, is_default_template: true }, 'clone'), undefined);
  assert.equal(desc(tpl, 'migrate_send'), undefined);
  const listed = allowedOperations(REF, vm(tpl), OPS);
  assert.ok(listed.includes('provision') && listed.includes('clone') && !listed.includes('start'));
});

test('snapshots: only revert, clone, copy, export, destroy, hard_shutdown, metadata_export', () => {
  const snap = { is_a_snapshot: true, is_a_template: true };
  for (const op of ['revert', 'clone', 'copy', 'export', 'destroy', 'metadata_export'])
    assert.equal(desc(snap, op), undefined, op);
  assert.equal(desc({ ...snap, power_state: 'Suspended' }, 'hard_shutdown'), undefined);
  for (const op of ['snapshot', 'provision', 'changing_static_range', 'make_into_template'])
    assert.deepEqual(desc(snap, op), ['VM_IS_SNAPSHOT', REF, op], op);
  assert.deepEqual(desc(snap, 'start'), ['VM_IS_SNAPSHOT', REF, 'start']);
  assert.ok(allowedOperations(REF, vm(snap), OPS).includes('revert'));
});

test('control domains: only snapshot, metadata_export and memory range/limit changes', () => {
  const dom0 = { is_control_domain: true, power_state: 'Running' };
  for (const op of [
    'snapshot',
    'metadata_export',
    'changing_memory_limits',
    'changing_static_range',
    'changing_dynamic_range',
  ])
    assert.equal(desc(dom0, op), undefined, op);
  for (const op of ['clean_shutdown', 'pause', 'suspend', 'hard_reboot'])
    assert.deepEqual(
      desc(dom0, op),
      ['OPERATION_NOT_ALLOWED', 'This operation is not allowed on a control domain'],
      op,
    );
  assert.deepEqual(desc({ is_control_domain: true }, 'destroy'), [
    'OPERATION_NOT_ALLOWED',
    'This operation is not allowed on dom0',
  ]);
});

test('strict mode (allowed_operations only) leaves out what Berth cannot do; assert_operation_valid does not', () => {
  for (const op of BERTH_UNSUPPORTED) {
    const state = XAPI_POWER_STATES[op].find((s) => s !== 'Suspended') ?? XAPI_POWER_STATES[op][0];
    assert.equal(checkOperation(REF, vm({ power_state: state }), op), undefined, op);
    assert.deepEqual(checkOperation(REF, vm({ power_state: state }), op, true)?.description, [
      'OPERATION_NOT_ALLOWED',
      `${op} is not supported by Berth yet`,
    ]);
  }
});

test('assert_operation_valid throws exactly the first error, and nothing for a valid operation', () => {
  assert.doesNotThrow(() => assertOperationValid(REF, vm(), 'start'));
  assert.throws(
    () => assertOperationValid(REF, vm({ power_state: 'Running' }), 'unpause'),
    (e: unknown) => {
      assert.deepEqual((e as { description: string[] }).description, [
        'VM_BAD_POWER_STATE',
        REF,
        'paused',
        'running',
      ]);
      return true;
    },
  );
  // a record without blocked_operations at all (an old row) is not an error
  assert.equal(checkOperation(REF, vm({ blocked_operations: undefined }), 'start'), undefined);
});

test('a control domain still needs the power state create_vtpm asks for', () => {
  assert.deepEqual(desc({ is_control_domain: true, power_state: 'Running' }, 'create_vtpm'), [
    'VM_BAD_POWER_STATE',
    REF,
    'halted',
    'running',
  ]);
});
