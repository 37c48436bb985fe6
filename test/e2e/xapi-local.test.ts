// On-host scripts written for xapi (XCP-ng's plugins, Ansible's xenserver_facts) call
// XenAPI.xapi_local(), which connects to xapi's socket path. The manager offers its local socket
// there as a symlink; here the paths are redirected into a test directory, and Debian's XenAPI.py
// binding logs in through the link exactly as xapi_local() does (the path spelt into the URL's
// host with "_" for "/", which the transport turns back into the socket path).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { XAPI_LOCAL_PATHS, parseConfig } from '../../src/manager/config.js';
import { Manager } from '../../src/manager/manager.js';

const run = promisify(execFile);

// Debian's UDSTransport breaks on Python 3.11 (send_request signature); this one keeps its
// behaviour: the socket path is the URL's host with "_" turned back into "/".
const XAPI_LOCAL = [
  'import sys, socket, http.client, xmlrpc.client',
  'from os_xenapi.client import XenAPI',
  'class UDSHTTPConnection(http.client.HTTPConnection):',
  '    def connect(self):',
  '        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
  '        self.sock.connect(self.host.replace("_", "/"))',
  'class UDSTransport(xmlrpc.client.Transport):',
  '    def make_connection(self, host): return UDSHTTPConnection(host)',
  'def xapi_local(path): return XenAPI.Session("http://" + path.replace("/", "_") + "/", transport=UDSTransport())',
  's = xapi_local(sys.argv[1])',
  's.xenapi.login_with_password("root", "")',
  'host = s.xenapi.host.get_all()[0]',
  'print(s.xenapi.host.get_uuid(host), s.xenapi.session.get_is_local_superuser(s.handle))',
  's.xenapi.session.logout()',
].join('\n');

test('defaults: xapi paths only for the manager on the standard socket', () => {
  assert.deepEqual(parseConfig([], {}).xapiLocalLinks, XAPI_LOCAL_PATHS);
  assert.deepEqual(XAPI_LOCAL_PATHS, ['/var/lib/xcp/xapi', '/var/xapi/xapi']);
  assert.deepEqual(parseConfig(['--socket', '/tmp/x.sock'], {}).xapiLocalLinks, []);
  assert.deepEqual(parseConfig(['--xapi-local-links', 'off'], {}).xapiLocalLinks, []);
  assert.deepEqual(parseConfig([], { BERTH_XAPI_LOCAL_LINKS: '/a/b,/c' }).xapiLocalLinks, ['/a/b', '/c']);
  assert.throws(() => parseConfig(['--xapi-local-links', 'rel/path'], {}), /invalid --xapi-local-links/);
});

test('XenAPI.xapi_local()-style clients reach the manager through the xapi path links', {
  timeout: 60_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-defects-xapilocal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.ok(!dir.includes('_'), 'xapi_local spells "/" as "_": the test path must have none');
  const link = join(dir, 'var/lib/xcp/xapi');
  const old = join(dir, 'var/xapi/xapi');
  const occupied = join(dir, 'occupied/xapi');
  mkdirSync(join(dir, 'var/xapi'), { recursive: true });
  symlinkSync('/nonexistent/stale.sock', old); // a stale link from an earlier run is replaced
  mkdirSync(join(dir, 'occupied'));
  writeFileSync(occupied, 'a real xapi socket would be here');
  const socket = join(dir, 'run/xapi.sock');
  const config = parseConfig(
    [
      '--data-dir',
      join(dir, 'data'),
      '--http-port',
      'off',
      '--https-port',
      'off',
      '--socket',
      socket,
      '--xapi-local-links',
      [link, old, occupied].join(','),
      '--nbd-port',
      'off',
    ],
    {},
  );
  const manager = await Manager.open(config, { timers: false, agent: false, networking: false });
  let closed = false;
  t.after(async () => {
    if (!closed) await manager.close();
  });
  await manager.listen();
  assert.equal(readlinkSync(link), socket);
  assert.equal(readlinkSync(old), socket);
  assert.ok(!lstatSync(occupied).isSymbolicLink(), 'a non-link at the path is left alone');

  const hostUuid = String(manager.db.get('host', manager.svc.hostRef())!.uuid);
  for (const path of [link, old]) {
    const { stdout } = await run('/usr/bin/python3', ['-c', XAPI_LOCAL, path], { timeout: 20_000 });
    assert.equal(stdout.trim(), `${hostUuid} True`, path);
  }

  await manager.close();
  closed = true;
  assert.equal(existsSync(link) || lstatExists(link), false, 'the link goes with the manager');
  assert.equal(lstatExists(old), false);
  assert.ok(existsSync(occupied));
});

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
