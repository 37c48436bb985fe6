// xe's external authentication and subject commands end to end, through the thin client against
// a real manager: the API's refusals as xe prints them, then with a real MIT KDC the whole flow an
// administrator runs (enable Kerberos, subject-add, subject-role-add) and alice logging in with
// the role given, listed by subject-list, ended by subject-remove and by disabling.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { kerberosLogin } from '../../../src/clients/berth/kerberos.js';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { configMap, roleChoice } from '../../../src/manager/cli/commands/external-auth.js';
import { kdcUnavailable, startKdc } from '../../helpers/kdc.js';
import { startCliManager, xe } from './harness.js';

const code = (c: string) => (e: any) => {
  assert.equal(e.code, c, `${e.code} ${JSON.stringify(e.params)}`);
  return true;
};
const INTERNAL =
  'The server failed to handle your request, due to an internal error. The given message may give details useful for debugging the problem.';

test('config: map and role-name / role-uuid choice', () => {
  assert.deepEqual(
    configMap([
      ['config:keytab', 'http.keytab'],
      ['config:', 'ignored'],
      ['configx', 'no'],
      ['config:realm', 'R'],
    ]),
    { keytab: 'http.keytab', realm: 'R' },
  );
  assert.deepEqual(roleChoice([['role-name', 'read-only']]), { by: 'name', value: 'read-only' });
  assert.deepEqual(roleChoice([['role-uuid', 'u']]), { by: 'uuid', value: 'u' });
  assert.throws(() => roleChoice([['role-name', '']]), /role-uuid or role-name/);
  assert.throws(
    () =>
      roleChoice([
        ['role-name', 'a'],
        ['role-uuid', 'b'],
      ]),
    /cannot be used together/,
  );
});

test('xe external-auth commands: the API refusals as xe prints them', async (t) => {
  const tm = await startCliManager(t);
  const run = (args: string[]) => xe(tm, args);

  const help = await run(['help', 'subject-add']);
  assert.match(help.stdout, /Add a subject to the list of subjects that can access the pool/);
  assert.match(help.stdout, /reqd params\s*: subject-name/);
  const all = (await run(['help', '--all', '--minimal'])).stdout.trim().split(',');
  for (const c of ['pool-enable-external-auth', 'subject-add', 'subject-role-add', 'subject-list'])
    assert.ok(all.includes(c), c);
  assert.ok(!all.includes('host-enable-external-auth'), 'hidden, as in xapi');

  assert.deepEqual(await run(['pool-enable-external-auth', 'service-name=R']), {
    code: 1,
    stdout: '',
    stderr: "Required parameter not found: auth-type\nFor usage run: 'xe help'\n",
  });
  assert.deepEqual(
    await run(['pool-enable-external-auth', 'auth-type=AD', 'service-name=R', 'config:keytab=x']),
    { code: 1, stdout: '', stderr: 'Unknown type of external authentication.\ntype: AD\n' },
  );
  const noKeytab = await run(['pool-enable-external-auth', 'auth-type=kerberos', 'service-name=R']);
  assert.equal(noKeytab.code, 1);
  assert.match(noKeytab.stderr, /^The host failed to enable external authentication.\nmessage: .*keytab/);
  const badPool = await run([
    'pool-enable-external-auth',
    'uuid=00000000-0000-0000-0000-000000000000',
    'auth-type=kerberos',
    'service-name=R',
  ]);
  assert.match(badPool.stderr, /^The uuid you supplied was invalid.\ntype: pool\n/);
  assert.deepEqual(await run(['pool-disable-external-auth']), {
    code: 1,
    stdout: '',
    stderr: 'External authentication is disabled\n',
  });
  assert.deepEqual(await run(['subject-add', 'subject-name=alice']), {
    code: 1,
    stdout: '',
    stderr: 'External authentication is disabled\n',
  });
  // The host-level commands recover one host and must be forced, as xapi's.
  const host = (await run(['host-list', '--minimal'])).stdout.trim();
  const unforced = await run(['host-disable-external-auth', `host-uuid=${host}`]);
  assert.equal(unforced.code, 1);
  assert.match(unforced.stderr, /message: Failure: This operation is provided only to recover/);
  assert.equal(
    (await run(['host-disable-external-auth', `host-uuid=${host}`, '--force'])).stderr,
    'External authentication is disabled\n',
  );
  // subject-role-*: one of role-name / role-uuid, and the subject must exist.
  assert.deepEqual(await run(['subject-role-add', 'uuid=x']), {
    code: 1,
    stdout: '',
    stderr: `${INTERNAL}\nmessage: Failure: Required parameter not found: role-uuid or role-name\n`,
  });
  assert.match(
    (await run(['subject-role-add', 'uuid=x', 'role-name=a', 'role-uuid=b'])).stderr,
    /Failure: Parameters role-uuid and role-name cannot be used together/,
  );
  assert.match(
    (await run(['subject-role-add', 'uuid=x', 'role-name=read-only'])).stderr,
    /^The uuid you supplied was invalid.\ntype: subject\nuuid: x\n/,
  );
  assert.match((await run(['subject-remove', 'subject-uuid=x'])).stderr, /type: subject\nuuid: x/);
  assert.deepEqual(await run(['session-subject-identifier-list']), { code: 0, stdout: '', stderr: '' });
});

test('xe manages Kerberos login against a real MIT KDC', { skip: kdcUnavailable() }, async (t) => {
  const kdc = await startKdc(t, 'XEAUTH.TEST');
  const httpKeytab = kdc.addPrincipal('HTTP/127.0.0.1', 'http.keytab');
  const aliceKeytab = kdc.addPrincipal('alice');
  const tm = await startCliManager(t);
  const run = (args: string[]) => xe(tm, args);
  const ok = async (args: string[]) => {
    const r = await run(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const clients: XenApiClient[] = [];
  t.after(() => {
    for (const c of clients) c.close();
  });
  const aliceLogin = async () => {
    const c = new XenApiClient({ url: tm.httpUrl });
    clients.push(c);
    await kerberosLogin(c, { keytab: aliceKeytab });
    return c;
  };
  const keytabs = join(tm.dataDir, 'kerberos');
  mkdirSync(keytabs, { mode: 0o700 });
  copyFileSync(httpKeytab, join(keytabs, 'http.keytab'));
  const principal = `alice@${kdc.realm}`;
  const sid = `kerberos:${principal}`;

  // Enabled the way an AD administrator enables AD, with Kerberos' config: keys.
  const pool = (await ok(['pool-list', '--minimal'])).trim();
  await ok([
    'pool-enable-external-auth',
    `uuid=${pool}`,
    'auth-type=kerberos',
    `service-name=${kdc.realm}`,
    'config:keytab=http.keytab',
  ]);
  const host = (await ok(['host-list', '--minimal'])).trim();
  assert.equal(await ok(['host-param-get', `uuid=${host}`, 'param-name=external-auth-type']), 'kerberos\n');
  const again = await run([
    'pool-enable-external-auth',
    'auth-type=kerberos',
    `service-name=${kdc.realm}`,
    'config:keytab=http.keytab',
  ]);
  assert.equal(
    again.stderr,
    `External authentication for this server is already enabled.\ncurrent auth_type: kerberos\ncurrent service_name: ${kdc.realm}\n`,
  );

  // subject-add resolves the name (the realm added) and prints the new subject's uuid.
  const uuid = (await ok(['subject-add', 'subject-name=alice'])).trim();
  assert.match(uuid, /^[0-9a-f-]{36}$/);
  assert.equal((await run(['subject-add', `subject-name=${principal}`])).stderr, 'Subject already exists.\n');
  assert.equal(
    (await run(['subject-add', 'subject-name=alice@OTHER.ORG'])).stderr,
    'Subject cannot be resolved by the external directory service.\n',
  );
  // A new subject is a pool-admin (xapi's default); make alice read-only.
  await ok(['subject-role-remove', `uuid=${uuid}`, 'role-name=pool-admin']);
  const readOnly = (await ok(['role-list', 'name=read-only', '--minimal'])).trim();
  await ok(['subject-role-add', `uuid=${uuid}`, `role-uuid=${readOnly}`]);
  assert.equal(
    (await run(['subject-role-add', `uuid=${uuid}`, 'role-name=read-only'])).stderr,
    'Role already exists.\n',
  );
  assert.equal(
    (await run(['subject-role-add', `uuid=${uuid}`, 'role-name=no-such-role'])).stderr,
    'Role cannot be found.\n',
  );

  // subject-list shows her with xapi's columns and the directory's information.
  const list = await ok(['subject-list']);
  assert.match(list, new RegExp(`^uuid \\( RO\\) +: ${uuid}\n`));
  assert.match(list, new RegExp(`\n +subject-identifier \\( RO\\): ${sid}\n`));
  assert.match(list, new RegExp(`\n +other-config \\(MRO\\): .*subject-name: ${principal}`));
  assert.match(list, /\n +roles \(SRO\): read-only\n/);
  assert.equal(await ok(['subject-list', `subject-identifier=${sid}`, '--minimal']), `${uuid}\n`);
  assert.equal(await ok(['subject-list', 'roles:contains=read-only', '--minimal']), `${uuid}\n`);
  assert.equal(await ok(['subject-list', 'roles:contains=pool-admin', '--minimal']), '\n');
  assert.equal(
    await ok(['subject-param-get', `uuid=${uuid}`, 'param-name=other-config', 'param-key=subject-name']),
    `${principal}\n`,
  );

  // alice logs in with her Kerberos ticket and has the role xe gave her.
  const alice = await aliceLogin();
  assert.ok((await alice.call('VM.get_all')).length > 0);
  await assert.rejects(
    alice.call('VM.create', baseVmRecord({ name_label: 'by-alice' }) as any),
    code('RBAC_PERMISSION_DENIED'),
  );
  assert.match(
    await ok(['session-subject-identifier-list']),
    new RegExp(`^subject-identifier \\( RO\\) +: ${sid}\n`),
  );

  // session-subject-identifier-logout ends her sessions; the subject stays.
  await ok(['session-subject-identifier-logout', `subject-identifier=${sid}`]);
  await assert.rejects(alice.call('VM.get_all'), code('SESSION_INVALID'));
  const back = await aliceLogin();
  await ok(['session-subject-identifier-logout-all']);
  await assert.rejects(back.call('VM.get_all'), code('SESSION_INVALID'));

  // subject-remove ends her sessions and her access.
  const third = await aliceLogin();
  await ok(['subject-remove', `subject-uuid=${uuid}`]);
  await assert.rejects(third.call('VM.get_all'), code('SESSION_INVALID'));
  assert.equal(await ok(['subject-list', '--minimal']), '\n');
  await assert.rejects(aliceLogin(), code('SESSION_AUTHENTICATION_FAILED'));

  // Added again, then pool-disable-external-auth ends her session and the Kerberos login.
  await ok(['subject-add', `subject-name=${principal}`]);
  const fourth = await aliceLogin();
  await ok(['pool-disable-external-auth']);
  await assert.rejects(fourth.call('VM.get_all'), code('SESSION_INVALID'));
  assert.equal(await ok(['host-param-get', `uuid=${host}`, 'param-name=external-auth-type']), '\n');
  await assert.rejects(aliceLogin(), code('SESSION_AUTHENTICATION_FAILED'));
});
