import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { allowedOperations, checkOperation } from '../../../src/manager/vm/lifecycle.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';

const OPS = MODEL.enums.vm_operations;
const vm = (o: Record<string, unknown> = {}) => ({
  ...baseVmRecord(),
  power_state: 'Halted',
  current_operations: {},
  blocked_operations: {},
  ...o,
});

test('a halted VM may start, clone and be destroyed, not shut down', () => {
  const ops = allowedOperations('r', vm(), OPS);
  for (const op of ['start', 'clone', 'copy', 'destroy', 'snapshot', 'export', 'provision'].filter(
    (o) => o !== 'provision',
  )) {
    assert.ok(ops.includes(op), op);
  }
  for (const op of [
    'clean_shutdown',
    'hard_shutdown',
    'pause',
    'unpause',
    'resume',
    'provision',
    'shutdown',
  ]) {
    assert.ok(!ops.includes(op), op);
  }
});

test('a running VM may shut down, reboot, pause and suspend, not start', () => {
  const ops = allowedOperations('r', vm({ power_state: 'Running' }), OPS);
  for (const op of ['clean_shutdown', 'hard_shutdown', 'clean_reboot', 'hard_reboot', 'pause', 'suspend'])
    assert.ok(ops.includes(op), op);
  assert.ok(!ops.includes('start'));
});

test('errors carry xapi parameters in xapi order of checks', () => {
  assert.deepEqual(checkOperation('OpaqueRef:v', vm({ power_state: 'Running' }), 'start')?.description, [
    'VM_BAD_POWER_STATE',
    'OpaqueRef:v',
    'halted',
    'running',
  ]);
  assert.deepEqual(checkOperation('OpaqueRef:v', vm(), 'hard_reboot')?.description, [
    'VM_BAD_POWER_STATE',
    'OpaqueRef:v',
    'paused, running',
    'halted',
  ]);
  assert.deepEqual(
    checkOperation('OpaqueRef:v', vm({ blocked_operations: { start: 'no' } }), 'start')?.description,
    ['OPERATION_BLOCKED', 'OpaqueRef:v', 'no'],
  );
  assert.deepEqual(
    checkOperation(
      'OpaqueRef:v',
      vm({ power_state: 'Running', current_operations: { 'OpaqueRef:t': 'clean_shutdown' } }),
      'pause',
    )?.description,
    ['OTHER_OPERATION_IN_PROGRESS', 'VM', 'OpaqueRef:v', 'clean_shutdown', 'OpaqueRef:t'],
  );
  // hard_shutdown may interrupt a clean shutdown
  assert.equal(
    checkOperation(
      'OpaqueRef:v',
      vm({ power_state: 'Running', current_operations: { t: 'clean_shutdown' } }),
      'hard_shutdown',
    ),
    undefined,
  );
  assert.deepEqual(checkOperation('OpaqueRef:v', vm({ is_a_template: true }), 'start')?.description, [
    'VM_IS_TEMPLATE',
    'OpaqueRef:v',
    'start',
  ]);
  assert.equal(checkOperation('OpaqueRef:v', vm({ is_a_template: true }), 'clone'), undefined);
  assert.deepEqual(checkOperation('OpaqueRef:v', vm(), 'provision')?.description, [
    'PROVISION_ONLY_ALLOWED_ON_TEMPLATE',
  ]);
  assert.deepEqual(
    checkOperation('OpaqueRef:v', vm({ is_control_domain: true, power_state: 'Running' }), 'hard_shutdown')
      ?.description,
    ['OPERATION_NOT_ALLOWED', 'This operation is not allowed on a control domain'],
  );
});
