// The pure parts of the data-plane framework: parameters from query and cookie with xapi's
// precedence, Basic credentials, task result fragments.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBasic } from '../../../src/manager/http/data/auth.js';
import { DataQuery, parseCookies, resultXml } from '../../../src/manager/http/data/index.js';
import { XenApiError } from '../../../src/shared/errors.js';

test('credentials prefer the cookie, other parameters the query', () => {
  const q = new DataQuery(
    '/export?session_id=OpaqueRef:q&ref=OpaqueRef:vm&x=1',
    'session_id=OpaqueRef%3Ac; ref=no; y=2',
  );
  assert.equal(q.credential('session_id'), 'OpaqueRef:c');
  assert.equal(q.get('ref'), 'OpaqueRef:vm');
  assert.equal(q.get('y'), '2');
  assert.equal(q.get('missing'), undefined);
  assert.equal(new DataQuery('/x?task_id=OpaqueRef:t', undefined).credential('task_id'), 'OpaqueRef:t');
});

test('booleans: flag is exact `true`; strictBool is bool_of_string', () => {
  const q = new DataQuery('/export?a=true&b=TRUE&c=false&d=1', undefined);
  assert.equal(q.flag('a'), true);
  assert.equal(q.flag('b'), false);
  assert.equal(q.flag('none', true), true);
  assert.equal(q.strictBool('c', true), false);
  assert.equal(q.strictBool('none', true), true);
  assert.throws(
    () => q.strictBool('d', false),
    (e) => e instanceof XenApiError && e.code === 'INVALID_VALUE',
  );
});

test('lists, prefixed remappings and malformed text never throw', () => {
  const q = new DataQuery('/import_metadata?excluded_device_types=vif,vbd&vdi:a=b&vdi:c=d&e=', undefined);
  assert.deepEqual(q.list('excluded_device_types'), ['vif', 'vbd']);
  assert.deepEqual(q.list('e'), []);
  assert.deepEqual(q.prefixed('vdi:'), [
    ['a', 'b'],
    ['c', 'd'],
  ]);
  const bad = new DataQuery('/x?session_id=%E0%A4%A&y=%%', 'session_id=%zz');
  assert.equal(bad.credential('session_id'), '%zz');
  assert.equal(typeof bad.get('y'), 'string');
  assert.deepEqual(
    [...parseCookies('a=1; a=2; b="q"; junk')],
    [
      ['a', '1'],
      ['b', 'q'],
    ],
  );
});

test('Basic credentials; other schemes are not Basic', () => {
  const b = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
  assert.deepEqual(parseBasic(b('root:pa:ss')), { user: 'root', password: 'pa:ss' });
  assert.deepEqual(parseBasic(`basic ${Buffer.from('u:').toString('base64')}`), { user: 'u', password: '' });
  assert.equal(parseBasic(b('nocolon')), undefined);
  assert.equal(parseBasic('Bearer abc'), undefined);
  assert.equal(parseBasic(undefined), undefined);
});

test('task results are XML-RPC value fragments', () => {
  assert.equal(resultXml(undefined), '');
  assert.equal(resultXml('OpaqueRef:a'), '<value>OpaqueRef:a</value>');
  assert.equal(
    resultXml(['OpaqueRef:a', 'OpaqueRef:b']),
    '<value><array><data><value>OpaqueRef:a</value><value>OpaqueRef:b</value></data></array></value>',
  );
  assert.equal(resultXml('<&>'), '<value>&lt;&amp;&gt;</value>');
});
