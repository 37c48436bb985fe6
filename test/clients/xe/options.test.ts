// Client options: precedence (command line > XE_EXTRA_ARGS > ~/.xe > defaults), ~/.xe parsing,
// password files, the request xe sends.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseOptions, parseRcFile } from '../../../src/clients/xe/main.js';
import { cliRequest, progressLine } from '../../../src/clients/xe/session.js';
import { tempDir } from '../../helpers/tmp.js';

test('defaults and precedence', () => {
  const d = parseOptions(['vm-list'], {}, []);
  assert.deepEqual(
    [d.server, d.username, d.password, d.port, d.args],
    ['127.0.0.1', 'root', 'null', undefined, ['vm-list']],
  );
  const o = parseOptions(
    ['vm-list', '-s', 'cmdline', 'port=8080', '--minimal'],
    { XE_EXTRA_ARGS: 'server=extra,-u,alice' },
    [
      ['server', 'rc'],
      ['username', 'rcuser'],
      ['password', 'rcpw'],
      ['minimal', 'true'],
    ],
  );
  assert.deepEqual(
    [o.server, o.port, o.username, o.password, o.args],
    ['cmdline', 8080, 'alice', 'rcpw', ['vm-list', '--minimal', 'minimal=true']],
  );
  assert.throws(() => parseOptions(['vm-list', '-p', '99999'], {}, []), /Port number must be an integer/);
});

test('~/.xe and password files', (t) => {
  assert.deepEqual(parseRcFile('server=a\n\nport=1=2\n'), {
    settings: [
      ['server', 'a'],
      ['port', '1=2'],
    ],
  });
  assert.equal(parseRcFile('server=a\nbogus\n').error, 'Error parsing rc file. No defaults loaded');
  const dir = tempDir(t);
  const pwf = join(dir, 'pw');
  writeFileSync(pwf, 'bob\nsecret\n');
  const o = parseOptions(['vm-list', '-pwf', pwf], {}, []);
  assert.deepEqual([o.username, o.password], ['bob', 'secret']);
  writeFileSync(pwf, 'bob');
  assert.throws(() => parseOptions(['vm-list', '-pwf', pwf], {}, []), /expecting username on the first line/);
});

test('request and progress line', () => {
  const r = cliRequest(['vm-list', 'params=uuid'], 'root', 'pw').toString();
  assert.equal(
    r,
    'POST /cli HTTP/1.0\r\nUser-agent: xe-cli/Unix/0.2\r\noriginator: cli\r\ncontent-length: 45\r\n\r\nvm-list\nparams=uuid\nusername=root\npassword=pw',
  );
  assert.match(progressLine(0.5), /^\r {2}50% \[#{20} {20}\]$/);
});
