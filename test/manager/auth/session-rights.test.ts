// Account changes reach open sessions at once, through a real manager and the real berth-admin
// process (which writes the database directly while the manager runs): a removed user's next
// call gets SESSION_INVALID, a demoted user's next write RBAC_PERMISSION_DENIED; the same for
// subject.add_to_roles / remove_from_roles / destroy through the API.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { roleRef } from '../../../src/manager/auth/roles.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { startManager } from '../../helpers/manager.js';

const ADMIN = join(import.meta.dirname, '../../../src/manager/admin/main.ts');
const code = (c: string) => (e: any) => {
  assert.equal(e.code, c, `${e.code} ${JSON.stringify(e.params)}`);
  return true;
};

async function berthAdmin(dataDir: string, ...args: string[]) {
  await promisify(execFile)(process.execPath, ['--import', 'tsx', ADMIN, '--data-dir', dataDir, ...args]);
}

test('berth-admin user-role and user-remove apply to open sessions at once', async (t) => {
  const m = await startManager(t);
  const pw = join(m.dataDir, 'alice-pw');
  writeFileSync(pw, 'secret\n', { mode: 0o600 });
  await berthAdmin(m.dataDir, 'user-add', 'alice', '--role', 'vm-admin', '--password-file', pw);
  const alice = new XenApiClient({ url: m.httpUrl });
  t.after(() => alice.close());
  await alice.login('alice', 'secret');
  const vm = (await alice.call('VM.create', baseVmRecord({ name_label: 'a' }) as any)) as string;
  await alice.call('VM.set_name_description', vm, 'mine');

  await berthAdmin(m.dataDir, 'user-role', 'alice', 'read-only');
  await assert.rejects(alice.call('VM.set_name_description', vm, 'again'), code('RBAC_PERMISSION_DENIED'));
  assert.equal(await alice.call('VM.get_name_description', vm), 'mine', 'reads still work');
  const perms = (await alice.call('session.get_rbac_permissions', alice.sessionRef as any)) as string[];
  assert.ok(!perms.includes('vm.set_name_description'), 'the session record shows the new rights');

  await berthAdmin(m.dataDir, 'user-remove', 'alice');
  await assert.rejects(alice.call('VM.get_name_description', vm), code('SESSION_INVALID'));
  assert.equal(m.manager.svc.sessions.count(), 0, 'its session is gone');
});

test('subject.add_to_roles / remove_from_roles / destroy apply to open sessions at once', async (t) => {
  const m = await startManager(t);
  await m.manager.svc.users.add('bob', 'read-only', 'pw');
  const root = new XenApiClient({ url: m.httpUrl });
  const bob = new XenApiClient({ url: m.httpUrl });
  t.after(() => root.close());
  t.after(() => bob.close());
  await root.login('root', m.rootPassword);
  await bob.login('bob', 'pw');
  const vm = (await root.call('VM.create', baseVmRecord({ name_label: 'b' }) as any)) as string;
  await assert.rejects(bob.call('VM.set_name_description', vm, 'x'), code('RBAC_PERMISSION_DENIED'));

  const subject = (await root.call('subject.create', {
    subject_identifier: 'bob',
    other_config: {},
  } as any)) as string;
  // A new subject has pool-admin (xapi's default for subject.roles): bob may write at once.
  assert.deepEqual(await root.call('subject.get_roles', subject), [roleRef('pool-admin')]);
  await bob.call('VM.set_name_description', vm, 'x');
  await root.call('subject.remove_from_roles', subject, roleRef('pool-admin') as any);
  await assert.rejects(bob.call('VM.set_name_description', vm, 'y'), code('RBAC_PERMISSION_DENIED'));
  await root.call('subject.add_to_roles', subject, roleRef('vm-admin') as any);
  await assert.rejects(
    root.call('subject.add_to_roles', subject, roleRef('vm-admin') as any),
    code('ROLE_ALREADY_EXISTS'),
  );
  await bob.call('VM.set_name_description', vm, 'z');
  await root.call('subject.remove_from_roles', subject, roleRef('vm-admin') as any);
  await assert.rejects(
    root.call('subject.remove_from_roles', subject, roleRef('vm-admin') as any),
    code('ROLE_NOT_FOUND'),
  );
  await assert.rejects(bob.call('VM.set_name_description', vm, 'w'), code('RBAC_PERMISSION_DENIED'));

  assert.deepEqual(await root.call('session.get_all_subject_identifiers'), ['bob']);
  await root.call('subject.destroy', subject);
  await assert.rejects(bob.call('VM.get_name_description', vm), code('SESSION_INVALID'));
  await root.call('VM.get_name_description', vm);
  // session.logout_subject_identifier ends all of a user's sessions too.
  await bob.login('bob', 'pw');
  await root.call('session.logout_subject_identifier', 'bob');
  await assert.rejects(bob.call('VM.get_name_description', vm), code('SESSION_INVALID'));
  assert.deepEqual(await root.call('session.get_all_subject_identifiers'), []);
});
