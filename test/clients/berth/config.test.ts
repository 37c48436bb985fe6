// berth's configuration: the ini file (where it is, its sections), CLI > file > default, the
// password file, and oVirtCmd's configuration errors (253) — in-process and through the real CLI.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'ini';
import {
  configPath,
  iniBoolean,
  loadSettings,
  readPasswordFile,
  resolveSettings,
} from '../../../src/clients/berth/config.js';
import { CliError } from '../../../src/clients/berth/errors.js';
import { runBerth } from '../../helpers/berth-cli.js';
import { tempDir } from '../../helpers/tmp.js';
import { runInProcess } from './fixtures.js';

const INI = parse(`
[api]
url = https://ini-host/
username = admin
password = secret
ca_file = /etc/ca.pem
insecure = no
debug = on
kerberos = False

[logging]
filters = text,data

[kerberos]
keytab = /etc/krb5.keytab
ccache = FILE:/tmp/cc
principal = berth@EXAMPLE
`);

const none = () => false;
const configError = (message: string) => (e: unknown) =>
  e instanceof CliError && e.exitCode === 253 && e.message === message;

describe('configPath', () => {
  it('is -c, else $BERTHCONFIG, else ~/.config/berth/berth.ini', () => {
    assert.deepEqual(configPath({ config: '/a.ini' }, { BERTHCONFIG: '/b.ini' }), {
      path: '/a.ini',
      explicit: true,
    });
    assert.deepEqual(configPath({}, { BERTHCONFIG: '/b.ini' }), { path: '/b.ini', explicit: true });
    assert.deepEqual(configPath({}, { HOME: '/home/u' }), {
      path: '/home/u/.config/berth/berth.ini',
      explicit: false,
    });
  });
});

describe('resolveSettings', () => {
  it('reads every key of the three sections', () => {
    assert.deepEqual(resolveSettings({}, INI, none, {}), {
      url: 'https://ini-host/',
      username: 'admin',
      password: 'secret',
      caFile: '/etc/ca.pem',
      insecure: false,
      debug: true,
      kerberos: false,
      logFilters: ['text', 'data'],
      keytab: '/etc/krb5.keytab',
      ccache: 'FILE:/tmp/cc',
      principal: 'berth@EXAMPLE',
    });
  });
  it('lets the command line win over the file', (t) => {
    const pw = join(tempDir(t), 'pw');
    writeFileSync(pw, 'from-file\n');
    const s = resolveSettings(
      {
        url: 'http://cli/',
        username: 'bob',
        passwordfile: pw,
        'ca-file': '/cli.pem',
        insecure: true,
        debug: false,
      },
      INI,
      none,
      {},
    );
    assert.equal(s.url, 'http://cli/');
    assert.equal(s.username, 'bob');
    assert.equal(s.password, 'from-file');
    assert.equal(s.caFile, '/cli.pem');
    assert.equal(s.insecure, true);
    assert.equal(s.debug, false);
  });
  it('falls back to the defaults', () => {
    const s = resolveSettings({}, { api: { url: 'http://h/', username: 'u', password: '' } }, none, {});
    assert.deepEqual(
      [s.insecure, s.debug, s.kerberos, s.logFilters, s.caFile],
      [false, false, false, ['text'], undefined],
    );
    assert.equal(s.password, '', 'an empty password is a password');
  });
  it('refuses -k with a user or a password file', () => {
    assert.throws(
      () => resolveSettings({ kerberos: true, username: 'u' }, INI, none, {}),
      configError('both kerberos and login/password authentication'),
    );
    assert.throws(
      () => resolveSettings({ kerberos: true, passwordfile: '/x' }, INI, none, {}),
      configError('both kerberos and login/password authentication'),
    );
  });
  it('turns Kerberos off for an explicit user and drops the file user for -k', () => {
    const ini = { api: { url: 'http://h/', username: 'file', password: 'p', kerberos: 'yes' } };
    assert.equal(resolveSettings({}, ini, none, {}).kerberos, true);
    const u = resolveSettings({ username: 'cli' }, ini, none, {});
    assert.deepEqual([u.kerberos, u.username, u.password], [false, 'cli', 'p']);
    const k = resolveSettings(
      { kerberos: true },
      { api: { url: 'http://h/', username: 'file', password: 'p' } },
      none,
      {},
    );
    assert.deepEqual([k.kerberos, k.username, k.password], [true, undefined, undefined]);
  });
  it('needs a url, else the local socket as root without password', () => {
    assert.throws(
      () => resolveSettings({}, {}, none, {}),
      configError('incomplete configuration, Berth url not found'),
    );
    const s = resolveSettings({}, {}, (p) => p === '/run/berth/xapi.sock', {});
    assert.deepEqual(
      [s.socketPath, s.username, s.password, s.url],
      ['/run/berth/xapi.sock', 'root', '', undefined],
    );
    assert.equal(
      resolveSettings({}, {}, (p) => p === '/var/lib/xcp/xapi', {}).socketPath,
      '/var/lib/xcp/xapi',
    );
    assert.equal(resolveSettings({}, {}, (p) => p === '/s', { BERTH_XAPI_SOCKET: '/s' }).socketPath, '/s');
    assert.throws(
      () => resolveSettings({ kerberos: true }, {}, () => true, {}),
      configError('incomplete configuration, Berth url not found'),
    );
  });
  it('needs a user (or Kerberos) and a password with a url', () => {
    assert.throws(
      () => resolveSettings({ url: 'http://h/' }, {}, none, {}),
      configError('not enough authentication information'),
    );
    assert.throws(
      () => resolveSettings({ url: 'http://h/', username: 'u' }, {}, none, {}),
      configError('no password for user u (give --passwordfile or [api] password)'),
    );
    assert.equal(resolveSettings({ url: 'http://h/', kerberos: true }, {}, none, {}).kerberos, true);
  });
  it('rejects a url that is not http(s) and a boolean that is not one', () => {
    assert.throws(
      () => resolveSettings({ url: 'ftp://h/' }, {}, none, {}),
      configError('invalid url (http:// or https://): ftp://h/'),
    );
    assert.throws(
      () => resolveSettings({}, { api: { url: 'http://h/', insecure: 'maybe' } }, none, {}),
      configError('[api] insecure: not a boolean: maybe'),
    );
  });
});

describe('iniBoolean and the password file', () => {
  it("reads configparser's booleans", () => {
    for (const v of ['1', 'yes', 'TRUE', 'on', true]) assert.equal(iniBoolean(v, 'x'), true);
    for (const v of ['0', 'No', 'false', 'off', false]) assert.equal(iniBoolean(v, 'x'), false);
    assert.equal(iniBoolean(undefined, 'x'), undefined);
  });
  it('keeps the whole content but one trailing newline', (t) => {
    const dir = tempDir(t);
    const cases: [string, string][] = [
      ['pw\n', 'pw'],
      ['pw\r\n', 'pw'],
      ['pw', 'pw'],
      [' p w \n\n', ' p w \n'],
      ['', ''],
    ];
    for (const [content, password] of cases) {
      writeFileSync(join(dir, 'pw'), content);
      assert.equal(readPasswordFile(join(dir, 'pw')), password, JSON.stringify(content));
    }
    assert.throws(
      () => readPasswordFile(join(dir, 'missing')),
      configError(`cannot read password file ${join(dir, 'missing')}: ENOENT`),
    );
  });
});

describe('loadSettings', () => {
  it('reads $BERTHCONFIG; a missing named file is an error, a missing default one is not', (t) => {
    const dir = tempDir(t);
    const ini = join(dir, 'berth.ini');
    writeFileSync(ini, '[api]\nurl=http://h/\nusername=u\npassword=p\n');
    assert.equal(loadSettings({}, { BERTHCONFIG: ini }).url, 'http://h/');
    assert.throws(
      () => loadSettings({ config: join(dir, 'nope.ini') }, {}),
      configError(`configuration file not found: ${join(dir, 'nope.ini')}`),
    );
    assert.throws(
      () => loadSettings({}, { BERTHCONFIG: join(dir, 'nope.ini') }),
      configError(`configuration file not found: ${join(dir, 'nope.ini')}`),
    );
    assert.throws(
      () => loadSettings({}, { HOME: dir, BERTH_XAPI_SOCKET: join(dir, 'none') }),
      configError('incomplete configuration, Berth url not found'),
    );
  });
});

describe('configuration errors through the runner', () => {
  const cases: [string[], string][] = [
    [['-k', '-u', 'root', 'testvm', 'list'], 'both kerberos and login/password authentication\n'],
    [
      ['-k', '--passwordfile', '/dev/null', 'testvm', 'list'],
      'both kerberos and login/password authentication\n',
    ],
    [['testvm', 'list'], 'incomplete configuration, Berth url not found\n'],
    [['--url', 'http://127.0.0.1:1/', 'testvm', 'list'], 'not enough authentication information\n'],
    [['-c', '/nonexistent/b.ini', 'testvm', 'list'], 'configuration file not found: /nonexistent/b.ini\n'],
  ];
  for (const [args, stderr] of cases)
    it(`berth ${args.join(' ')}`, async () => {
      const r = await runInProcess(args);
      assert.deepEqual(r, { code: 253, stdout: '', stderr });
    });
  it('reads no configuration for help', async () => {
    const r = await runBerth(['-c', '/nonexistent/b.ini', '-h']);
    assert.equal(r.code, 0);
  });
});
