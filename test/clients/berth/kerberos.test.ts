// berth's Kerberos client settings: the service principal from the manager URL, ccache names,
// and the MIT environment a keytab or ccache option sets (the login itself is exercised against
// a real KDC in test/manager/auth/kerberos.test.ts).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import {
  ccacheName,
  credentialEnvironment,
  kerberosLogin,
  servicePrincipal,
} from '../../../src/clients/berth/kerberos.js';
import { EXIT_USAGE } from '../../../src/clients/berth/errors.js';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { tempDir } from '../../helpers/tmp.js';

test('servicePrincipal is HTTP@<manager host>', () => {
  assert.equal(servicePrincipal('https://berth.example.org/'), 'HTTP@berth.example.org');
  assert.equal(servicePrincipal('http://127.0.0.1:8080'), 'HTTP@127.0.0.1');
  assert.equal(servicePrincipal('https://[::1]:443/'), 'HTTP@::1');
});

test('ccacheName: a path is a FILE cache, a typed name is kept', () => {
  assert.equal(ccacheName('/tmp/cc'), 'FILE:/tmp/cc');
  assert.equal(ccacheName('cc'), `FILE:${resolve('cc')}`);
  assert.equal(ccacheName('MEMORY:x'), 'MEMORY:x');
  assert.equal(ccacheName('KEYRING:persistent:0'), 'KEYRING:persistent:0');
});

test('credentialEnvironment: keytab, ccache, neither', async (t) => {
  const dir = tempDir(t, 'berth-kerberos-client-');
  const keytab = join(dir, 'alice.keytab');
  writeFileSync(keytab, Buffer.from([5, 2]));
  const a = await credentialEnvironment({ keytab });
  assert.equal(a.KRB5_CLIENT_KTNAME, `FILE:${keytab}`);
  assert.match(a.KRB5CCNAME, /^MEMORY:berth-/);
  const b = await credentialEnvironment({ keytab });
  assert.notEqual(a.KRB5CCNAME, b.KRB5CCNAME, 'each login has its own memory cache');
  assert.deepEqual(await credentialEnvironment({ keytab, ccache: join(dir, 'cc') }), {
    KRB5_CLIENT_KTNAME: `FILE:${keytab}`,
    KRB5CCNAME: `FILE:${join(dir, 'cc')}`,
  });
  assert.deepEqual(await credentialEnvironment({ ccache: join(dir, 'cc') }), {
    KRB5CCNAME: `FILE:${join(dir, 'cc')}`,
  });
  assert.deepEqual(await credentialEnvironment({}), {});
  await assert.rejects(credentialEnvironment({ keytab: join(dir, 'missing') }), (e: any) => {
    assert.equal(e.exitCode, EXIT_USAGE);
    assert.match(e.message, /kerberos keytab not readable/);
    return true;
  });
});

test('kerberosLogin needs an http(s) manager', async () => {
  const client = new XenApiClient({ socketPath: '/nonexistent.sock' });
  await assert.rejects(kerberosLogin(client, {}), /needs an http\(s\) url/);
  client.close();
});
