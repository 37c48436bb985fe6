// The pure parts of the manager's Kerberos support: the Negotiate header, principal names, the
// configuration's admission rules, and the keytab's confinement to <data dir>/kerberos.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  isExternalIdentifier,
  KerberosConfigError,
  negotiateToken,
  parseKerberosConfig,
  refusal,
  splitPrincipal,
  subjectIdentifierOf,
} from '../../../src/manager/auth/kerberos.js';
import { tempDir } from '../../helpers/tmp.js';

test('negotiateToken reads only the Negotiate scheme', () => {
  assert.equal(negotiateToken('Negotiate YWJj'), 'YWJj');
  assert.equal(negotiateToken('negotiate YWJj=='), 'YWJj==');
  assert.equal(negotiateToken('Negotiate'), '');
  assert.equal(negotiateToken(['Negotiate YQ==', 'Basic x']), 'YQ==');
  assert.equal(negotiateToken('Basic cm9vdDpwdw=='), undefined);
  assert.equal(negotiateToken('NegotiateYWJj'), undefined);
  assert.equal(negotiateToken('Negotiate a b'), undefined);
  assert.equal(negotiateToken(undefined), undefined);
});

test('principal names and subject identifiers', () => {
  assert.deepEqual(splitPrincipal('HTTP/berth.example.org@EXAMPLE.ORG'), {
    primary: 'HTTP',
    instance: 'berth.example.org',
    realm: 'EXAMPLE.ORG',
  });
  assert.deepEqual(splitPrincipal('alice@EXAMPLE.ORG'), { primary: 'alice', realm: 'EXAMPLE.ORG' });
  assert.equal(subjectIdentifierOf('alice@EXAMPLE.ORG'), 'kerberos:alice@EXAMPLE.ORG');
  assert.equal(isExternalIdentifier('kerberos:alice@EXAMPLE.ORG'), true);
  assert.equal(isExternalIdentifier('alice'), false);
});

test('refusal: the realm and the service of an accepted context', () => {
  const c = { keytab: '/k', realm: 'EXAMPLE.ORG', service: 'HTTP' };
  assert.equal(refusal(c, 'alice@EXAMPLE.ORG', 'HTTP/h@EXAMPLE.ORG'), undefined);
  assert.match(refusal(c, 'alice@OTHER.ORG', 'HTTP/h@EXAMPLE.ORG') ?? '', /realm OTHER.ORG/);
  assert.match(refusal(c, 'alice@EXAMPLE.ORG', 'host/h@EXAMPLE.ORG') ?? '', /not the HTTP service/);
  assert.match(refusal(c, 'alice', 'HTTP/h@EXAMPLE.ORG') ?? '', /no realm/);
  assert.equal(refusal({ ...c, realm: '' }, 'alice@OTHER.ORG', 'HTTP/h@EXAMPLE.ORG'), undefined);
});

test('parseKerberosConfig confines the keytab and checks its format', async (t) => {
  const data = tempDir(t, 'berth-kerberos-config-');
  const root = join(data, 'kerberos');
  mkdirSync(root);
  const keytab = join(root, 'http.keytab');
  writeFileSync(keytab, Buffer.from([0x05, 0x02, 0, 0, 0, 0]));
  writeFileSync(join(root, 'text.keytab'), 'not a keytab');
  writeFileSync(join(data, 'outside.keytab'), Buffer.from([0x05, 0x02]));
  symlinkSync(join(data, 'outside.keytab'), join(root, 'link.keytab'));
  mkdirSync(join(root, 'dir.keytab'));

  assert.deepEqual(await parseKerberosConfig({ keytab: 'http.keytab' }, 'EXAMPLE.ORG', root), {
    keytab,
    realm: 'EXAMPLE.ORG',
    service: 'HTTP',
  });
  assert.deepEqual(await parseKerberosConfig({ keytab, realm: 'R.ORG', service: 'berth' }, 'X', root), {
    keytab,
    realm: 'R.ORG',
    service: 'berth',
  });
  const refused = async (config: Record<string, string>, pattern: RegExp) =>
    assert.rejects(parseKerberosConfig(config, '', root), (e: unknown) => {
      assert.ok(e instanceof KerberosConfigError);
      assert.match(e.message, pattern);
      return true;
    });
  await refused({}, /keytab is required/);
  await refused({ keytab: 'missing.keytab' }, /not found/);
  await refused({ keytab: '../outside.keytab' }, /must be a file in/);
  await refused({ keytab: join(data, 'outside.keytab') }, /must be a file in/);
  await refused({ keytab: 'link.keytab' }, /must be a file in/);
  await refused({ keytab: 'dir.keytab' }, /must be a file in/);
  await refused({ keytab: '.' }, /must be a file in/);
  await refused({ keytab: 'text.keytab' }, /not a keytab/);
  await refused({ keytab: 'http.keytab', service: 'HTTP/x' }, /invalid config:service/);
  await refused({ keytab: 'http.keytab', realm: 'A B' }, /invalid realm/);
});
