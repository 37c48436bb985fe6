// upload_file, etc_hosts_modify, get_file_info and x509 certificates: allow-lists, confinement
// through symlinks, atomic writes, hostile input.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { etcHostsModify } from '../../../src/agent/host-ops/etc-hosts.js';
import { getFileInfo } from '../../../src/agent/host-ops/file-info.js';
import { uploadFile } from '../../../src/agent/host-ops/upload.js';
import { validityDays, x509CertCreate, x509CertRemove } from '../../../src/agent/host-ops/x509.js';
import { tempDir } from '../../helpers/tmp.js';
import { errorOf, testConfig } from './config.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('upload_file writes an allowed target atomically with mode, owner and times', async (t) => {
  const dir = tempDir(t, 'berth-hostops-up-');
  const target = join(dir, 'pool', 'known_hosts');
  mkdirSync(join(dir, 'pool'));
  const cfg = testConfig(dir, { uploadFiles: [target] });
  writeFileSync(target, 'old');
  await uploadFile(cfg, target, b64('new content'), 0o640, 'nobody', 'nogroup', 1_000_000, 2_000_000);
  const st = statSync(target); // before reading it: a read moves atime
  assert.equal(readFileSync(target, 'utf8'), 'new content');
  assert.equal(st.mode & 0o777, 0o640);
  assert.equal(st.uid, 65534);
  assert.equal(st.mtimeMs, 2_000_000_000);
  assert.equal(Math.round(st.atimeMs), 1_000_000_000);
  await uploadFile(cfg, target, b64('x'), 0o600, 0, 0, 1, 1);
  assert.equal(statSync(target).uid, 0);
  assert.deepEqual(readdirSync(join(dir, 'pool')), ['known_hosts'], 'no temp file left');
});

test('upload_file refuses paths outside its targets, symlinked parents, bad owners and oversized data', async (t) => {
  const dir = tempDir(t, 'berth-hostops-up-');
  mkdirSync(join(dir, 'pool'));
  mkdirSync(join(dir, 'elsewhere'));
  const target = join(dir, 'pool', 'secret');
  const viaLink = join(dir, 'linked', 'secret');
  symlinkSync(join(dir, 'elsewhere'), join(dir, 'linked'));
  const cfg = testConfig(dir, { uploadFiles: [target, viaLink], uploadMaxBytes: 1024 });
  const up = (p: unknown, data = b64('x'), mode: unknown = 0o600, uid: unknown = 0, gid: unknown = 0) =>
    uploadFile(cfg, p, data, mode, uid, gid, 1, 1);
  const rejects = async (p: Promise<unknown>, expected: string[] | RegExp) =>
    assert.rejects(p, (e) => {
      if (expected instanceof RegExp) assert.match(errorOf(e).join(' '), expected);
      else assert.deepEqual(errorOf(e), expected);
      return true;
    });
  await rejects(up('pool/secret'), [
    'NODE_PROCEDURE_FAILED',
    'upload_file',
    "Filename passed to UploadFile is not absolute: 'pool/secret'",
  ]);
  for (const p of [
    `${dir}/pool/../pool/secret`,
    `${dir}/pool/./secret`,
    `${dir}//pool/secret`,
    `${dir}/pool/other`,
    '/etc/passwd',
    `${target}\n`,
  ])
    await rejects(up(p), [
      'NODE_PROCEDURE_FAILED',
      'upload_file',
      `Filename passed to UploadFile not in allowed upload targets: '${p}'`,
    ]);
  await rejects(up(viaLink), /is a symbolic link to/);
  assert.deepEqual(readdirSync(join(dir, 'elsewhere')), []);
  await rejects(up(target, b64('y'.repeat(2000))), /File too large for UploadFile: more than 1024 bytes/);
  await rejects(up(target, 'not base64!'), /INVALID_VALUE data/);
  await rejects(up(target, b64('x'), 0o4755), /INVALID_VALUE mode/);
  await rejects(up(target, b64('x'), -1), /INVALID_VALUE mode/);
  await rejects(up(target, b64('x'), 0o600, 'root;id'), /Invalid username\/groupname type/);
  await rejects(up(target, b64('x'), 0o600, '$(id)'), /Invalid username\/groupname type/);
  await rejects(up(target, b64('x'), 0o600, 'no-such-user-berth'), /INVALID_VALUE uid/);
  await rejects(up(target, b64('x'), 0o600, 0, { g: 1 }), /Invalid username\/groupname type/);
  assert.equal(existsSync(target), false, 'nothing written by a refused upload');
  // A symlink planted at the target is replaced, never followed.
  writeFileSync(join(dir, 'elsewhere', 'victim'), 'keep');
  symlinkSync(join(dir, 'elsewhere', 'victim'), target);
  await up(target, b64('replaced'));
  assert.equal(readFileSync(join(dir, 'elsewhere', 'victim'), 'utf8'), 'keep');
  assert.equal(readFileSync(target, 'utf8'), 'replaced');
});

test('etc_hosts_modify adds and removes a host, keeping other lines and the file mode', async (t) => {
  const dir = tempDir(t, 'berth-hostops-hosts-');
  const cfg = testConfig(dir);
  writeFileSync(
    cfg.hostsFile,
    '127.0.0.1\tlocalhost\n# pool members\n10.0.0.5\tnode1.pool.test node1 # old\n',
    { mode: 0o644 },
  );
  assert.equal(etcHostsModify(cfg, 'add', 'node1.pool.test', '10.0.0.9'), true);
  assert.equal(
    readFileSync(cfg.hostsFile, 'utf8'),
    '127.0.0.1\tlocalhost\n# pool members\n10.0.0.9\tnode1.pool.test node1\n',
  );
  etcHostsModify(cfg, 'add', 'node2.pool.test', 'fd00::2');
  assert.match(readFileSync(cfg.hostsFile, 'utf8'), /\nfd00::2\tnode2\.pool\.test node2\n$/);
  etcHostsModify(cfg, 'remove', 'node1.pool.test', null);
  assert.equal(
    readFileSync(cfg.hostsFile, 'utf8'),
    '127.0.0.1\tlocalhost\n# pool members\nfd00::2\tnode2.pool.test node2\n',
  );
  // A line with other aliases keeps them.
  writeFileSync(cfg.hostsFile, '10.0.0.7\tnode3.pool.test node3 keep-me\n');
  etcHostsModify(cfg, 'remove', 'node3.pool.test', null);
  assert.equal(readFileSync(cfg.hostsFile, 'utf8'), '10.0.0.7\tkeep-me\n');
  assert.equal(statSync(cfg.hostsFile).mode & 0o777, 0o644);
});

test('etc_hosts_modify refuses hostile names and addresses without touching the file', async (t) => {
  const dir = tempDir(t, 'berth-hostops-hosts-');
  const cfg = testConfig(dir);
  writeFileSync(cfg.hostsFile, '127.0.0.1\tlocalhost\n');
  const bad: [unknown, unknown, unknown][] = [
    ['add', 'evil\n1.2.3.4 bank.example', '10.0.0.1'],
    ['add', 'a b', '10.0.0.1'],
    ['add', 'name#comment', '10.0.0.1'],
    ['add', '-leading.dash', '10.0.0.1'],
    ['add', 'x'.repeat(64), '10.0.0.1'],
    ['add', 'ok.host', '10.0.0.1\n6.6.6.6 evil'],
    ['add', 'ok.host', '999.1.1.1'],
    ['add', 'ok.host', null],
    ['add', '$(id)', '10.0.0.1'],
    ['drop', 'ok.host', '10.0.0.1'],
    ['remove', '../etc', null],
  ];
  for (const [mode, host, ip] of bad)
    assert.throws(
      () => etcHostsModify(cfg, mode, host, ip),
      /INVALID_VALUE/,
      JSON.stringify([mode, host, ip]),
    );
  assert.equal(readFileSync(cfg.hostsFile, 'utf8'), '127.0.0.1\tlocalhost\n');
});

test('get_file_info answers for paths under its roots only, symlinks included', async (t) => {
  const dir = tempDir(t, 'berth-hostops-info-');
  const cfg = testConfig(dir);
  mkdirSync(join(dir, 'files', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'files', 'a.txt'), 'hello', { mode: 0o640 });
  writeFileSync(join(dir, 'secret'), 'no');
  symlinkSync(join(dir, 'secret'), join(dir, 'files', 'escape'));
  symlinkSync(join(dir, 'files', 'a.txt'), join(dir, 'files', 'inside'));
  const info = getFileInfo(cfg, join(dir, 'files', 'a.txt'));
  assert.equal(info?.size, 5);
  assert.equal(info?.mode, 0o640);
  assert.equal(info?.kind, 'file');
  assert.equal(getFileInfo(cfg, join(dir, 'files', 'inside'))?.size, 5);
  assert.equal(getFileInfo(cfg, join(dir, 'files', 'sub'))?.kind, 'directory');
  assert.equal(getFileInfo(cfg, join(dir, 'files', 'missing')), null);
  for (const p of [
    join(dir, 'files', 'escape'),
    `${dir}/files/../secret`,
    join(dir, 'secret'),
    'files/a.txt',
    '/etc/shadow',
    `${dir}/files/a.txt\0`,
    join(dir, 'files', 'no-dir', 'x'),
  ])
    assert.throws(() => getFileInfo(cfg, p), /INVALID_VALUE/, p);
});

test('x509_cert_create makes a self-signed cert capped at 7 days; remove deletes it', async (t) => {
  const dir = tempDir(t, 'berth-hostops-x509-');
  const cfg = testConfig(dir);
  const [name, pem] = await x509CertCreate(cfg, 3600);
  assert.match(name, /^x509-\d{14}-[0-9a-f]{16}$/);
  const cert = new X509Certificate(pem);
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86400_000;
  assert.ok(days >= 0.99 && days <= 1.01, `1 day, got ${days}`);
  assert.ok(!pem.includes('PRIVATE KEY'));
  assert.equal(statSync(join(cfg.x509Dir, name, 'key')).mode & 0o777, 0o400);
  assert.equal(statSync(cfg.x509Dir).mode & 0o777, 0o700);
  assert.equal(validityDays(365 * 86400), 7);
  const [long, longPem] = await x509CertCreate(cfg, 365 * 86400);
  const longCert = new X509Certificate(longPem);
  assert.ok((Date.parse(longCert.validTo) - Date.parse(longCert.validFrom)) / 86400_000 <= 7.01);
  x509CertRemove(cfg, name);
  assert.equal(existsSync(join(cfg.x509Dir, name)), false);
  assert.throws(() => x509CertRemove(cfg, name), /not found/);
  for (const bad of ['../crypto', `${long}/../..`, '/etc', 'x509-1-2', `${long};rm`, ''])
    assert.throws(() => x509CertRemove(cfg, bad), /INVALID_VALUE/, bad);
  for (const v of [0, -5, 'a', Number.NaN]) await assert.rejects(x509CertCreate(cfg, v), /INVALID_VALUE/);
  assert.equal(existsSync(join(cfg.x509Dir, long, 'cert')), true);
});

test('the host operations config file: known keys with checked types only', async () => {
  const { parseHostOpsConfig } = await import('../../../src/agent/host-ops/config-file.js');
  assert.deepEqual(
    parseHostOpsConfig(
      '{"oobPrograms": ["/usr/lib/berth/oob"], "rebootCommand": ["/bin/systemctl", "reboot"], "powerDelaySec": 5}',
    ),
    { oobPrograms: ['/usr/lib/berth/oob'], rebootCommand: ['/bin/systemctl', 'reboot'], powerDelaySec: 5 },
  );
  for (const bad of [
    '[]',
    '{"oobProgram": ["/x"]}',
    '{"oobPrograms": ["relative/oob"]}',
    '{"rebootCommand": "reboot"}',
    '{"rebootCommand": ["systemctl", "reboot"]}',
    '{"hostsFile": "etc/hosts"}',
    '{"uploadMaxBytes": -1}',
    '{"wolInterface": "eth0; reboot"}',
  ])
    assert.throws(() => parseHostOpsConfig(bad), /host operations config/, bad);
});
