// Kerberos login end to end against a real MIT KDC started by the test: the manager's
// pool.enable_external_auth with the service keytab, subjects `kerberos:<principal>` with roles,
// berth's kerberosLogin from a client keytab (and from a ccache kinit filled), curl's own SPNEGO
// as an independent client, and the refusals: unknown principal, garbage tokens, no role,
// Kerberos disabled. A manager start without Kerberos never loads the native binding.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { kerberosLogin } from '../../../src/clients/berth/kerberos.js';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { roleRef } from '../../../src/manager/auth/roles.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { kdcUnavailable, startKdc } from '../../helpers/kdc.js';
import { startManager } from '../../helpers/manager.js';

const run = promisify(execFile);
const code = (c: string) => (e: any) => {
  assert.equal(e.code, c, `${e.code} ${JSON.stringify(e.params)}`);
  return true;
};

/** A raw JSON-RPC login POST: its status, WWW-Authenticate and body. */
async function rawLogin(url: string, headers: Record<string, string>, user = '') {
  const res = await fetch(`${url}/jsonrpc`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'session.login_with_password',
      params: [user, '', '2.21', 'test'],
    }),
  });
  return { status: res.status, www: res.headers.get('www-authenticate'), body: await res.json() };
}

test('Kerberos login against a real MIT KDC', { skip: kdcUnavailable() }, async (t) => {
  const kdc = await startKdc(t);
  const httpKeytab = kdc.addPrincipal('HTTP/127.0.0.1', 'http.keytab');
  // The same keytab also holds another service's key: its tickets must still be refused.
  kdc.addPrincipal('host/127.0.0.1', 'http.keytab');
  const aliceKeytab = kdc.addPrincipal('alice');
  const bobKeytab = kdc.addPrincipal('bob');
  const m = await startManager(t);
  const root = new XenApiClient({ url: m.httpUrl });
  t.after(() => root.close());
  await root.login('root', m.rootPassword);
  const host = (await root.call('host.get_all'))[0];
  const pool = (await root.call('pool.get_all'))[0];
  const clients: XenApiClient[] = [];
  const client = () => {
    const c = new XenApiClient({ url: m.httpUrl });
    clients.push(c);
    return c;
  };
  t.after(() => {
    for (const c of clients) c.close();
  });

  await t.test('a manager without Kerberos has not loaded the GSSAPI binding', async () => {
    const loaded = Object.keys(requireCache()).some((p) => p.includes('/node_modules/kerberos/'));
    assert.equal(loaded, false);
    // An empty user name without Kerberos is a plain failed password login (200, no challenge).
    const r = await rawLogin(m.httpUrl, {});
    assert.equal(r.status, 200);
    assert.equal(r.www, null);
    assert.equal(r.body.error.message, 'SESSION_AUTHENTICATION_FAILED');
  });

  await t.test('enable_external_auth checks the type and the keytab', async () => {
    const keytabs = join(m.dataDir, 'kerberos');
    mkdirSync(keytabs, { mode: 0o700 });
    copyFileSync(httpKeytab, join(keytabs, 'http.keytab'));
    const enable = (config: Record<string, string>, type = 'kerberos') =>
      root.call('pool.enable_external_auth', pool, config, kdc.realm, type);
    await assert.rejects(enable({ keytab: 'http.keytab' }, 'AD'), code('AUTH_UNKNOWN_TYPE'));
    await assert.rejects(enable({}), code('AUTH_ENABLE_FAILED'));
    // Outside <data dir>/kerberos, directly or through a symbolic link: refused.
    await assert.rejects(enable({ keytab: httpKeytab }), code('AUTH_ENABLE_FAILED'));
    symlinkSync(httpKeytab, join(keytabs, 'escape.keytab'));
    await assert.rejects(enable({ keytab: 'escape.keytab' }), code('AUTH_ENABLE_FAILED'));
    await assert.rejects(enable({ keytab: '../root-password' }), code('AUTH_ENABLE_FAILED'));
    await assert.rejects(enable({ keytab: 'missing.keytab' }), code('AUTH_ENABLE_FAILED'));
    await enable({ keytab: 'http.keytab' });
    assert.ok(
      Object.keys(requireCache()).some((p) => p.includes('/node_modules/kerberos/')),
      'enabling loads the binding',
    );
    assert.equal(await root.call('host.get_external_auth_type', host), 'kerberos');
    assert.equal(await root.call('host.get_external_auth_service_name', host), kdc.realm);
    assert.deepEqual(await root.call('host.get_external_auth_configuration', host), {
      keytab: join(keytabs, 'http.keytab'),
      realm: kdc.realm,
      service: 'HTTP',
    });
    await assert.rejects(enable({ keytab: 'http.keytab' }), (e: any) => {
      assert.deepEqual([e.code, ...e.params], ['AUTH_ALREADY_ENABLED', 'kerberos', kdc.realm]);
      return true;
    });
  });

  let aliceSubject = '';
  await t.test('alice (a read-only subject) logs in from her keytab', async () => {
    // As `xe subject-add subject-name=alice` does: the name resolved, its information kept.
    const sid = await root.call('auth.get_subject_identifier', 'alice');
    assert.equal(sid, `kerberos:alice@${kdc.realm}`);
    assert.equal(await root.call('auth.get_subject_identifier', `alice@${kdc.realm}`), sid);
    await assert.rejects(
      root.call('auth.get_subject_identifier', 'alice@OTHER.ORG'),
      code('SUBJECT_CANNOT_BE_RESOLVED'),
    );
    await assert.rejects(root.call('auth.get_subject_identifier', 'a b'), code('SUBJECT_CANNOT_BE_RESOLVED'));
    const info = await root.call('auth.get_subject_information_from_identifier', sid);
    assert.equal(info['subject-name'], `alice@${kdc.realm}`);
    assert.equal(info['subject-is-group'], 'false');
    assert.deepEqual(await root.call('auth.get_group_membership', sid), []);
    await assert.rejects(
      root.call('auth.get_group_membership', 'S-1-5-21-1'),
      code('SUBJECT_CANNOT_BE_RESOLVED'),
    );
    aliceSubject = (await root.call('subject.create', {
      subject_identifier: sid,
      other_config: info,
    } as any)) as string;
    await root.call('subject.remove_from_roles', aliceSubject, roleRef('pool-admin') as any);
    await root.call('subject.add_to_roles', aliceSubject, roleRef('read-only') as any);

    const alice = client();
    await kerberosLogin(alice, { keytab: aliceKeytab });
    assert.ok(alice.sessionRef?.startsWith('OpaqueRef:'));
    const s = alice.sessionRef as any;
    assert.equal(await root.call('session.get_auth_user_name', s), `alice@${kdc.realm}`);
    assert.equal(await root.call('session.get_auth_user_sid', s), `kerberos:alice@${kdc.realm}`);
    assert.equal(await root.call('session.get_subject', s), aliceSubject);
    assert.deepEqual(await root.call('session.get_all_subject_identifiers'), [`kerberos:alice@${kdc.realm}`]);
    // read-only: reads work, VM.create is denied.
    assert.ok((await alice.call('VM.get_all')).length > 0);
    await assert.rejects(
      alice.call('VM.create', baseVmRecord({ name_label: 'k' }) as any),
      code('RBAC_PERMISSION_DENIED'),
    );
    // A role raised on the subject applies to the open session.
    await root.call('subject.add_to_roles', aliceSubject, roleRef('vm-admin') as any);
    await alice.call('VM.create', baseVmRecord({ name_label: 'by-alice' }) as any);
    await root.call('subject.remove_from_roles', aliceSubject, roleRef('vm-admin') as any);
    await alice.logout();
  });

  await t.test('the keytab login fills a named ccache, and tickets from kinit serve alone', async () => {
    const ccache = join(kdc.dir, 'alice.ccache');
    await kerberosLogin(client(), { keytab: aliceKeytab, ccache, principal: `alice@${kdc.realm}` });
    assert.ok(existsSync(ccache), 'the credential cache was written');
    const kinitCache = join(kdc.dir, 'kinit.ccache');
    await run('kinit', ['-k', '-t', aliceKeytab, '-c', kinitCache, 'alice'], {
      env: { ...process.env, KRB5_CONFIG: kdc.krb5Conf },
    });
    const viaCache = client();
    await kerberosLogin(viaCache, { ccache: kinitCache });
    assert.equal(
      await root.call('session.get_auth_user_name', viaCache.sessionRef as any),
      `alice@${kdc.realm}`,
    );
  });

  await t.test('curl --negotiate (its own SPNEGO) logs alice in over JSON-RPC and XML-RPC', async () => {
    const kinitCache = join(kdc.dir, 'kinit.ccache');
    const curl = async (path: string, type: string, body: string) =>
      (
        await run(
          'curl',
          [
            '-sS',
            '--negotiate',
            '-u',
            ':',
            '-H',
            `Content-Type: ${type}`,
            '--data',
            body,
            `${m.httpUrl}${path}`,
          ],
          { env: { ...process.env, KRB5_CONFIG: kdc.krb5Conf, KRB5CCNAME: `FILE:${kinitCache}` } },
        )
      ).stdout;
    const json = await curl(
      '/jsonrpc',
      'application/json',
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'session.login_with_password',
        params: ['', '', '2.21', 'curl'],
      }),
    );
    const session = JSON.parse(json).result;
    assert.match(session, /^OpaqueRef:/);
    assert.equal(await root.call('session.get_auth_user_name', session), `alice@${kdc.realm}`);
    const params = ['', '', '2.21', 'curl'].map((p) => `<param><value><string>${p}</string></value></param>`);
    const xml = await curl(
      '/',
      'text/xml',
      `<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName><params>${params.join('')}</params></methodCall>`,
    );
    const ref = /<name>Value<\/name><value>(OpaqueRef:[^<]+)<\/value>/.exec(xml)?.[1];
    assert.ok(ref, xml);
    assert.equal(await root.call('session.get_auth_user_name', ref as any), `alice@${kdc.realm}`);
  });

  await t.test('bob has tickets but no subject: SESSION_AUTHENTICATION_FAILED, 401', async () => {
    await assert.rejects(kerberosLogin(client(), { keytab: bobKeytab }), (e: any) => {
      assert.deepEqual(
        [e.code, ...e.params],
        ['SESSION_AUTHENTICATION_FAILED', `bob@${kdc.realm}`, 'Authentication failure'],
      );
      return true;
    });
    // A subject without a role: authenticated, not authorised.
    const bobSubject = (await root.call('subject.create', {
      subject_identifier: `kerberos:bob@${kdc.realm}`,
      other_config: {},
    } as any)) as string;
    await root.call('subject.remove_from_roles', bobSubject, roleRef('pool-admin') as any);
    await assert.rejects(kerberosLogin(client(), { keytab: bobKeytab }), code('RBAC_PERMISSION_DENIED'));
    await root.call('subject.destroy', bobSubject);
  });

  await t.test('garbage tokens and the bare challenge answer 401 + WWW-Authenticate', async () => {
    for (const token of ['Z2FyYmFnZQ==', 'not*base64', '']) {
      const r = await rawLogin(m.httpUrl, { Authorization: `Negotiate ${token}` });
      assert.equal(r.status, 401, token);
      assert.equal(r.www, 'Negotiate');
      assert.equal(r.body.error.message, 'SESSION_AUTHENTICATION_FAILED');
    }
    // A valid ticket of alice's, but for the `host` service: accepted by GSSAPI, refused by config.
    const gss = (await import('kerberos')).default;
    process.env.KRB5_CLIENT_KTNAME = `FILE:${aliceKeytab}`;
    process.env.KRB5CCNAME = 'MEMORY:berth-kerberos-host-service';
    const other = await gss.initializeClient('host@127.0.0.1', { mechOID: gss.GSS_MECH_OID_SPNEGO });
    const wrongService = await rawLogin(m.httpUrl, { Authorization: `Negotiate ${await other.step('')}` });
    assert.equal(wrongService.status, 401);
    assert.deepEqual(wrongService.body.error.data, [`alice@${kdc.realm}`, 'Kerberos authentication failed']);
    // XML-RPC too: the 401 carries xapi's XML failure.
    const x = await fetch(`${m.httpUrl}/`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/xml', Authorization: 'Negotiate Z2FyYmFnZQ==' },
      body: '<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName><params><param><value>u</value></param><param><value>p</value></param></params></methodCall>',
    });
    assert.equal(x.status, 401);
    assert.equal(x.headers.get('www-authenticate'), 'Negotiate');
    assert.match(await x.text(), /SESSION_AUTHENTICATION_FAILED/);
    // No header, empty user name: SPNEGO's challenge (what curl --negotiate waits for).
    const r = await rawLogin(m.httpUrl, {});
    assert.equal(r.status, 401);
    assert.equal(r.www, 'Negotiate');
    // Password logins are unchanged, and the manager still serves.
    const again = client();
    await again.login('root', m.rootPassword);
    assert.equal((await again.call('host.get_all')).length, 1);
  });

  await t.test('a subject destroyed or Kerberos disabled ends the sessions', async () => {
    const alice = client();
    await kerberosLogin(alice, { keytab: aliceKeytab });
    await alice.call('VM.get_all');
    await root.call('pool.disable_external_auth', pool, {});
    await assert.rejects(alice.call('VM.get_all'), code('SESSION_INVALID'));
    assert.equal(await root.call('host.get_external_auth_type', host), '');
    await assert.rejects(root.call('pool.disable_external_auth', pool, {}), code('AUTH_IS_DISABLED'));
    await assert.rejects(root.call('auth.get_subject_identifier', 'alice'), code('AUTH_IS_DISABLED'));
    await assert.rejects(kerberosLogin(client(), { keytab: aliceKeytab }), (e: any) => {
      assert.deepEqual(
        [e.code, ...e.params],
        ['SESSION_AUTHENTICATION_FAILED', '', 'Kerberos authentication is not enabled'],
      );
      return true;
    });
    await root.call('pool.enable_external_auth', pool, { keytab: 'http.keytab' }, kdc.realm, 'kerberos');
    const back = client();
    await kerberosLogin(back, { keytab: aliceKeytab });
    await root.call('subject.destroy', aliceSubject);
    await assert.rejects(back.call('VM.get_all'), code('SESSION_INVALID'));
  });
});

/** The CommonJS module cache (the kerberos addon is CommonJS; import() of it lands here too). */
function requireCache(): Record<string, unknown> {
  return createRequire(import.meta.url).cache;
}

test('a Kerberos session outlives a manager restart with its subject', {
  skip: kdcUnavailable(),
}, async (t) => {
  const kdc = await startKdc(t);
  const httpKeytab = kdc.addPrincipal('HTTP/127.0.0.1', 'http.keytab');
  const aliceKeytab = kdc.addPrincipal('alice');
  const first = await startManager(t);
  mkdirSync(join(first.dataDir, 'kerberos'));
  copyFileSync(httpKeytab, join(first.dataDir, 'kerberos', 'http.keytab'));
  const root = new XenApiClient({ url: first.httpUrl });
  const alice = new XenApiClient({ url: first.httpUrl });
  t.after(() => root.close());
  t.after(() => alice.close());
  await root.login('root', first.rootPassword);
  const pool = (await root.call('pool.get_all'))[0];
  await root.call('pool.enable_external_auth', pool, { keytab: 'http.keytab' }, '', 'kerberos');
  const subject = (await root.call('subject.create', {
    subject_identifier: `kerberos:alice@${kdc.realm}`,
    other_config: {},
  } as any)) as string;
  await kerberosLogin(alice, { keytab: aliceKeytab });
  const session = alice.sessionRef as string;
  await first.manager.close();

  const second = await startManager(t, { dataDir: first.dataDir });
  const again = new XenApiClient({ url: second.httpUrl });
  t.after(() => again.close());
  assert.ok(
    ((await again.raw('VM.get_all', [session])) as string[]).length > 0,
    'the session is still valid',
  );
  await again.login('root', second.rootPassword);
  await again.call('subject.destroy', subject);
  await assert.rejects(again.raw('VM.get_all', [session]), code('SESSION_INVALID'));
});
