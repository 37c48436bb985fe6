// xapi's power-state table through the API (a real manager): VM.get_allowed_operations after a
// state change, each operation's own VM_BAD_POWER_STATE, VM.assert_operation_valid for allowed ones.
// Kept apart from the pure table test so mutation testing can run that one alone, fast.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { startManager } from '../../helpers/manager.js';
import { PLAIN_VM_OTHER_ERROR, STATES, XAPI_POWER_STATES } from './xapi-power-table.js';

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
