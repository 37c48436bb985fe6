// The seed's Kerberos login through the REAL `berth` CLI (a child process) against a real MIT KDC
// started by the test and a manager with Kerberos external authentication: the `[kerberos]` ini
// section (client keytab, principal, ccache), `-k` with tickets kinit put in a cache, `-k` with
// `-u` refused, a principal that is no subject, and a read-only subject's RBAC refusal.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { XenApiClient } from '../../src/clients/sdk/client.js';
import { roleRef } from '../../src/manager/auth/roles.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { runBerth } from '../helpers/berth-cli.js';
import { kdcUnavailable, startKdc } from '../helpers/kdc.js';
import { startManager } from '../helpers/manager.js';
import { tempDir } from '../helpers/tmp.js';

test('berth -k and the [kerberos] section against a real MIT KDC', {
  skip: kdcUnavailable(),
  timeout: 120_000,
}, async (t) => {
  const kdc = await startKdc(t);
  const httpKeytab = kdc.addPrincipal('HTTP/127.0.0.1', 'http.keytab');
  const aliceKeytab = kdc.addPrincipal('alice');
  const bobKeytab = kdc.addPrincipal('bob');
  const m = await startManager(t);
  const root = new XenApiClient({ url: m.httpUrl });
  t.after(() => root.close());
  await root.login('root', m.rootPassword);
  t.after(() => root.logout().catch(() => {}));

  // The manager's side (docs/configuration.md, "Kerberos login"): the service keytab under
  // <data dir>/kerberos, external auth enabled, alice a read-only subject.
  const keytabs = join(m.dataDir, 'kerberos');
  mkdirSync(keytabs, { mode: 0o700 });
  copyFileSync(httpKeytab, join(keytabs, 'http.keytab'));
  const [pool] = await root.call('pool.get_all');
  await root.call('pool.enable_external_auth', pool, { keytab: 'http.keytab' }, kdc.realm, 'kerberos');
  const sid = await root.call('auth.get_subject_identifier', 'alice');
  const alice = (await root.call('subject.create', {
    subject_identifier: sid,
    other_config: {},
  } as never)) as string;
  await root.call('subject.remove_from_roles', alice as never, roleRef('pool-admin') as never);
  await root.call('subject.add_to_roles', alice as never, roleRef('read-only') as never);
  await root.call('VM.create', baseVmRecord({ name_label: 'krb01' }) as never);
  const krb01 = await root.call('VM.get_by_name_label', 'krb01');
  const krb01Uuid = await root.call('VM.get_uuid', krb01[0]);

  // The CLI's environment: the test's realm only; no ambient tickets.
  const dir = tempDir(t, 'berth-kerberos-cli-');
  const env = { KRB5_CONFIG: kdc.krb5Conf, KRB5CCNAME: `FILE:${join(dir, 'none.ccache')}` };
  const iniFor = (name: string, keytab: string, principal: string, ccache: string) => {
    const ini = join(dir, `${name}.ini`);
    writeFileSync(
      ini,
      [
        '[api]',
        `url = ${m.httpUrl}`,
        'kerberos = true',
        '',
        '[kerberos]',
        `keytab = ${keytab}`,
        `principal = ${principal}`,
        `ccache = ${ccache}`,
        '',
      ].join('\n'),
    );
    return ini;
  };
  const aliceCcache = join(dir, 'alice.ccache');
  const aliceIni = iniFor('alice', aliceKeytab, `alice@${kdc.realm}`, `FILE:${aliceCcache}`);
  const sessions = () => m.manager.svc.db.count('session');

  await t.test('berth -c berth.ini vm list: the [kerberos] keytab, principal and ccache', async () => {
    const before = sessions();
    const r = await runBerth(['-c', aliceIni, 'vm', 'list'], { env });
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `krb01 ${krb01Uuid}\n`, '']);
    assert.ok(existsSync(aliceCcache), 'the tickets went to the named ccache');
    // The session was alice's and was logged out at the end.
    assert.equal(sessions(), before);
    // The same through the environment variable.
    const viaEnv = await runBerth(['host', 'list'], { env: { ...env, BERTHCONFIG: aliceIni } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /^\S+ [0-9a-f-]{36}\n$/);
  });

  await t.test('berth -k with tickets kinit put in KRB5CCNAME', async () => {
    const cache = join(dir, 'kinit.ccache');
    execFileSync('kinit', ['-k', '-t', aliceKeytab, '-c', cache, `alice@${kdc.realm}`], {
      env: { ...process.env, KRB5_CONFIG: kdc.krb5Conf },
    });
    const r = await runBerth(['--url', m.httpUrl, '-k', 'vm', 'list'], {
      env: { ...env, KRB5CCNAME: `FILE:${cache}` },
    });
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, `krb01 ${krb01Uuid}\n`, '']);
    // Without tickets: GSSAPI's reason, 251.
    const none = await runBerth(['--url', m.httpUrl, '-k', 'vm', 'list'], { env });
    assert.equal(none.code, 251);
    assert.match(none.stderr, /^kerberos authentication failed: /);
  });

  await t.test('-k together with -u: both kerberos and login/password authentication', async () => {
    const r = await runBerth(['--url', m.httpUrl, '-k', '-u', 'root', 'vm', 'list'], { env });
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [253, '', 'both kerberos and login/password authentication\n'],
    );
  });

  await t.test('bob has tickets but is no subject: the login failure, 251', async () => {
    const bobIni = iniFor('bob', bobKeytab, `bob@${kdc.realm}`, `MEMORY:bob`);
    const r = await runBerth(['-c', bobIni, 'vm', 'list'], { env });
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [251, '', `authentication failed for kerberos principal bob@${kdc.realm} at ${m.httpUrl}\n`],
    );
  });

  await t.test('read-only alice cannot create a VM: the RBAC error, 251', async () => {
    const r = await runBerth(['-c', aliceIni, 'vm', 'create', '-n', 'by-alice', '--nopxe'], { env });
    assert.equal(r.code, 251);
    assert.match(r.stderr, /^The action "vm create" failed with\n {4}RBAC_PERMISSION_DENIED: /);
    assert.deepEqual(await root.call('VM.get_by_name_label', 'by-alice'), []);
  });
});
