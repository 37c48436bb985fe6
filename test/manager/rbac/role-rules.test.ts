// The RBAC role matrix on the pure rule (checkPermission/requiredPermission/rolePermissions),
// generated from the datamodel: every role x every message, denied iff the message does not list
// the role. Fast (no manager), so mutation testing runs it per mutant; role-matrix.test.ts does the
// same through the dispatcher and the wire.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkPermission,
  deniedError,
  protectedKey,
  requiredPermission,
} from '../../../src/manager/auth/rbac.js';
import {
  isRoleName,
  md5Uuid,
  permissions,
  roleRef,
  rolePermissions,
} from '../../../src/manager/auth/roles.js';
import type { SessionInfo } from '../../../src/manager/auth/sessions.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import type { MessageSpec } from '../../../src/shared/datamodel/model-types.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { CHECKED, deniedText, dummyArgs, level, ROLE_NAMES, type RoleName } from './matrix.js';

const session = (role: RoleName): SessionInfo =>
  ({ ref: 'OpaqueRef:s', userName: role, role, superuser: false }) as unknown as SessionInfo;

/** The error a function throws, or undefined. */
function thrown(f: () => void): XenApiError | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof XenApiError) return e;
    throw e;
  }
  return undefined;
}

test('the datamodel roles are hierarchical: a role allowed a message implies every role above it', () => {
  for (const m of CHECKED) {
    const lvl = level(m);
    const six = ROLE_NAMES.filter((r) => m.roles.includes(r));
    assert.deepEqual(six, ROLE_NAMES.slice(0, lvl + 1), m.wire);
  }
  // every level occurs, so the matrix below has something to check at each
  for (let l = -1; l < ROLE_NAMES.length; l++)
    assert.ok(
      CHECKED.some((m) => level(m) === l),
      `level ${l}`,
    );
});

test('pure rule, every role × every message: denied iff the message does not list the role', () => {
  let denied = 0;
  for (const role of ROLE_NAMES) {
    for (const m of CHECKED) {
      const e = thrown(() => checkPermission(session(role), requiredPermission(MODEL, m, dummyArgs(m))));
      if (m.roles.includes(role)) assert.equal(e, undefined, `${role} ${m.wire}`);
      else {
        assert.deepEqual(
          e?.description,
          ['RBAC_PERMISSION_DENIED', m.wire.toLowerCase(), deniedText(m)],
          `${role} ${m.wire}`,
        );
        denied++;
      }
    }
    // the superuser passes everything
    for (const m of CHECKED)
      assert.equal(
        thrown(() =>
          checkPermission(
            { ...session(role), superuser: true, role: undefined },
            requiredPermission(MODEL, m, []),
          ),
        ),
        undefined,
      );
  }
  assert.ok(denied > 1000, `only ${denied} denials in the matrix`);
});

test('role permission lists (role.get_permissions) match the messages each role may call', () => {
  for (const role of ROLE_NAMES) {
    const perms = new Set(rolePermissions(MODEL, role));
    for (const m of CHECKED)
      assert.equal(perms.has(m.wire.toLowerCase()), m.roles.includes(role), `${role} ${m.wire}`);
  }
});

test('protected map keys: folder and XenCenter.CustomFields.* need the key’s roles', () => {
  const add = CHECKED.find((m) => m.wire === 'VM.add_to_other_config');
  assert.ok(add);
  const field = MODEL.classes.VM.fields.find((f) => f.name === 'other_config');
  const keyRoles = field?.mapKeyRoles ?? {};
  assert.ok(Object.keys(keyRoles).length > 0, 'VM.other_config has protected keys');
  for (const [pattern, roles] of Object.entries(keyRoles)) {
    const key = pattern.endsWith('*') ? `${pattern.slice(0, -1)}x` : pattern;
    const p = requiredPermission(MODEL, add, ['OpaqueRef:v', key, 'v']);
    assert.equal(p.name, `vm.add_to_other_config/key:${pattern}`.toLowerCase());
    for (const role of ROLE_NAMES) {
      const e = thrown(() => checkPermission(session(role), p));
      assert.equal(e === undefined, roles.includes(role), `${role} ${key}`);
    }
  }
});

test('role refs and uuids are the MD5 of the role name, as xapi derives them', () => {
  assert.equal(md5Uuid('read-only'), '7233b8e3-eacb-d7da-2c95-f2e581cdbf4e');
  assert.equal(roleRef('pool-admin'), 'OpaqueRef:0165f154-ba3e-034e-6b27-5d271af109ba');
  for (const r of ROLE_NAMES) assert.equal(isRoleName(r), true);
  for (const r of ['', 'client-cert', 'Pool-Admin', 'pool-admin ']) assert.equal(isRoleName(r), false, r);
});

test('permissions: one per message, per protected key, plus task.destroy/any and http/connect_console', () => {
  const all = permissions(MODEL);
  const byName = new Map(all.map((p) => [p.name, p.roles]));
  assert.equal(all.length, byName.size, 'no duplicate permission names');
  for (const m of CHECKED) assert.deepEqual(byName.get(m.wire), m.roles, m.wire);
  assert.deepEqual(byName.get('task.destroy/any'), ['pool-admin', 'pool-operator']);
  assert.deepEqual(byName.get('http/connect_console'), ROLE_NAMES.slice(0, 5));
  const keyed = all.filter((p) => p.name.includes('/key:'));
  assert.ok(keyed.some((p) => p.name === 'VM.add_to_other_config/key:folder'));
  assert.ok(keyed.some((p) => p.name === 'VM.remove_from_other_config/key:XenCenter.CustomFields.*'));
  // only map add/remove messages get key permissions
  for (const p of keyed) assert.match(p.name, /\.(add_to|remove_from)_[a-z_]+\/key:/, p.name);
  // a role's list is lower-cased
  assert.ok(rolePermissions(MODEL, 'read-only').includes('vm.get_record'));
  assert.ok(rolePermissions(MODEL, 'pool-operator').includes('task.destroy/any'));
  assert.ok(!rolePermissions(MODEL, 'vm-admin').includes('task.destroy/any'));
  assert.ok(!rolePermissions(MODEL, 'read-only').includes('http/connect_console'));
  assert.ok(rolePermissions(MODEL, 'vm-operator').includes('http/connect_console'));
});

test('protectedKey: exact keys match exactly, `prefix.*` patterns match by prefix', () => {
  const field = MODEL.classes.VM.fields.find((f) => f.name === 'other_config');
  assert.ok(field?.mapKeyRoles);
  assert.equal(protectedKey(field, 'folder'), 'folder');
  assert.equal(protectedKey(field, 'folder2'), undefined);
  assert.equal(protectedKey(field, 'xfolder'), undefined);
  assert.equal(protectedKey(field, 'XenCenter.CustomFields.foo'), 'XenCenter.CustomFields.*');
  assert.equal(protectedKey(field, 'XenCenter.CustomFields.'), 'XenCenter.CustomFields.*');
  assert.equal(protectedKey(field, 'XenCenter.CustomField'), undefined);
  const plain = MODEL.classes.VM.fields.find((f) => f.name === 'name_label');
  assert.ok(plain);
  assert.equal(protectedKey(plain, 'folder'), undefined);
});

test('requiredPermission: key permissions only for add_to/remove_from with a string key', () => {
  const msg = (w: string) => CHECKED.find((m) => m.wire === w) as MessageSpec;
  const add = msg('VM.add_to_other_config');
  const remove = msg('VM.remove_from_other_config');
  const set = msg('VM.set_other_config');
  assert.equal(
    requiredPermission(MODEL, add, ['r', 'folder', 'v']).name,
    'vm.add_to_other_config/key:folder',
  );
  assert.equal(
    requiredPermission(MODEL, remove, ['r', 'folder']).name,
    'vm.remove_from_other_config/key:folder',
  );
  assert.equal(requiredPermission(MODEL, add, ['r', 'other', 'v']).name, 'vm.add_to_other_config');
  assert.deepEqual(requiredPermission(MODEL, add, ['r', 'other', 'v']).roles, add.roles);
  assert.equal(requiredPermission(MODEL, add, ['r', 7, 'v']).name, 'vm.add_to_other_config');
  assert.equal(requiredPermission(MODEL, set, ['r', { folder: 'x' }]).name, 'vm.set_other_config');
  const keyRoles = MODEL.classes.VM.fields.find((f) => f.name === 'other_config')?.mapKeyRoles ?? {};
  assert.deepEqual(requiredPermission(MODEL, add, ['r', 'folder', 'v']).roles, keyRoles.folder);
  // a map message on a field without protected keys
  const tags = msg('VM.add_to_xenstore_data');
  assert.equal(requiredPermission(MODEL, tags, ['r', 'folder', 'v']).name, 'vm.add_to_xenstore_data');
});

test('deniedError carries the permission name and the roles that have it', () => {
  assert.deepEqual(deniedError({ name: 'vm.start', roles: ['pool-admin', 'vm-operator'] }).description, [
    'RBAC_PERMISSION_DENIED',
    'vm.start',
    'No permission in user session. (Roles with this permission: pool-admin, vm-operator)',
  ]);
  // no role at all (superuser-only) is denied too
  assert.ok(
    thrown(() => checkPermission({ ...session('pool-admin'), role: undefined }, { name: 'x', roles: [] })),
  );
});
