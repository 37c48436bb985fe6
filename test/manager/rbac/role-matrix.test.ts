// The RBAC role matrix generated from the datamodel: for every role and every message, a session
// of that role is denied (RBAC_PERMISSION_DENIED [permission, text]) exactly when the message does
// not list the role, and gets past RBAC otherwise. Checked in full on the pure rule and through the
// dispatcher, and per role × class over XML-RPC, JSON-RPC and Async. (test/manager/rbac/
// surfaces.test.ts covers /cli and the HTTP console handler.) A deliberate bug such as "the
// read-only role allows everything" must fail here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHECKED, CLASSES, deniedText, dummyArgs, ROLE_NAMES, samples, startsWithRef } from './matrix.js';
import { rbacManager, type RbacManager } from './harness.js';

/** Every message the role may not call is denied by the dispatcher, before any handler runs. */
test('dispatcher, every role × every message: denied ones fail with RBAC_PERMISSION_DENIED, allowed ones get past RBAC', {
  timeout: 300_000,
}, async (t) => {
  const h = await rbacManager(t);
  const wrong: string[] = [];
  for (const role of ROLE_NAMES) {
    const s = h.sessions[role];
    for (const m of CHECKED) {
      const allowed = m.roles.includes(role);
      // An allowed call runs its handler; only calls that start with a ref (to nothing) are safe
      // to make with dummy arguments: they fail on the lookup right after RBAC.
      if (allowed && !startsWithRef(m)) continue;
      const e = await h.inProcess(s, m.wire, dummyArgs(m));
      const isDenied = e?.[0] === 'RBAC_PERMISSION_DENIED';
      if (isDenied === allowed) wrong.push(`${role} ${m.wire}: ${e?.join(' ') ?? 'succeeded'}`);
      else if (isDenied) assert.deepEqual(e, ['RBAC_PERMISSION_DENIED', m.wire.toLowerCase(), deniedText(m)]);
    }
  }
  assert.deepEqual(wrong, []);
});

for (const proto of ['xml', 'json'] as const) {
  test(`${proto === 'xml' ? 'XML-RPC' : 'JSON-RPC'} and Async, every role × every class: just above denied, own level allowed`, {
    timeout: 300_000,
  }, async (t) => {
    const h: RbacManager = await rbacManager(t);
    const wrong: string[] = [];
    let checked = 0;
    for (const role of ROLE_NAMES) {
      for (const cls of CLASSES) {
        const { above, at } = samples(role, cls, h.wireFriendly);
        for (const [m, allowed] of [
          [above, false],
          [at, true],
        ] as const) {
          if (!m) continue;
          checked++;
          const e = await h.overWire(proto, role, m.wire, dummyArgs(m));
          if ((e?.[0] === 'RBAC_PERMISSION_DENIED') === allowed)
            wrong.push(`${role} ${m.wire}: ${e?.join(' ') ?? 'succeeded'}`);
          else if (!allowed)
            assert.deepEqual(e, ['RBAC_PERMISSION_DENIED', m.wire.toLowerCase(), deniedText(m)]);
          if (m.async) {
            // Async: the call returns a task; the denial (or any later error) lands in the task.
            const te = await h.asyncOverWire(proto, role, m.wire, dummyArgs(m));
            if ((te?.[0] === 'RBAC_PERMISSION_DENIED') === allowed)
              wrong.push(`${role} Async.${m.wire}: ${te?.join(' ') ?? 'succeeded'}`);
            else if (!allowed)
              assert.deepEqual(te, ['RBAC_PERMISSION_DENIED', m.wire.toLowerCase(), deniedText(m)]);
          }
        }
      }
    }
    assert.deepEqual(wrong, []);
    // every role had something above it and at its level in most classes
    assert.ok(checked > ROLE_NAMES.length * 20, `only ${checked} cases`);
  });
}
