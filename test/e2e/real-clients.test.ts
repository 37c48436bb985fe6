// Real XenAPI clients, unchanged, against a real manager: Xen Orchestra's xen-api npm package
// (JSON-RPC and XML-RPC, over HTTPS with a self-signed certificate) and Debian's XenAPI.py.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createClient, type Xapi } from 'xen-api';
import { startManager } from '../helpers/manager.js';

const run = promisify(execFile);

async function connect(url: string, password: string, transport: string): Promise<Xapi> {
  const xapi = createClient({
    url,
    auth: { user: 'root', password },
    allowUnauthorized: true,
    transport,
    watchEvents: ['pool', 'host', 'VM', 'task'],
    debounce: 10,
  });
  await xapi.connect();
  await xapi.objectsFetched;
  return xapi;
}

for (const transport of ['json-rpc', 'xml-rpc']) {
  test(`xen-api (${transport}) connects, loads objects, sees events, runs callAsync`, {
    timeout: 60_000,
  }, async (t) => {
    const m = await startManager(t, { https: true });
    const xapi = await connect(m.httpsUrl, m.rootPassword, transport);
    t.after(() => xapi.disconnect());

    const all = Object.values(xapi.objects.all);
    const pools = all.filter((o: any) => o.$type === 'pool');
    assert.equal(pools.length, 1);
    const hosts = all.filter((o: any) => o.$type === 'host');
    assert.equal(hosts.length, 1);
    assert.equal(pools[0].master, hosts[0].$ref);
    // int64 arrives as a JSON number over JSON-RPC and as a string over XML-RPC, as from xapi.
    assert.equal(String(hosts[0].API_version_major), '2');
    assert.ok(all.some((o: any) => o.$type === 'VM' && o.is_control_domain));

    // A field change arrives through the client's event loop.
    const pool = pools[0];
    const seen = new Promise<string>((resolve) => {
      xapi.objects.on('update', (objs: Record<string, any>) => {
        for (const o of Object.values(objs))
          if (o.$type === 'pool' && o.name_label === 'renamed') resolve(o.name_label);
      });
    });
    await xapi.call('pool.set_name_label', pool.$ref, 'renamed');
    assert.equal(await seen, 'renamed');

    // barrier() needs pool.add_to_other_config + a pool event carrying the key.
    await xapi.barrier();

    // callAsync: Async.* returns a task, the result comes from the task record via events.
    const state = await xapi.callAsync('pool.get_license_state', pool.$ref);
    assert.deepEqual(state, { edition: 'berth', expiry: 'never' });
    await assert.rejects(
      xapi.callAsync('VM.get_record', 'OpaqueRef:nope'),
      (e: any) => e.code === 'Fault' || e.code === 'HANDLE_INVALID',
    );

    // Errors arrive as XapiError with xapi's code and params.
    await assert.rejects(
      xapi.call('VM.get_record', 'OpaqueRef:00000000-0000-0000-0000-000000000000'),
      (e: any) => {
        assert.equal(e.code, 'HANDLE_INVALID');
        assert.deepEqual(e.params, ['VM', 'OpaqueRef:00000000-0000-0000-0000-000000000000']);
        return true;
      },
    );
  });
}

test('Debian python3-os-xenapi XenAPI.py logs in, reads, follows events, gets Failures', {
  timeout: 60_000,
}, async (t) => {
  const m = await startManager(t);
  const script = join(import.meta.dirname, 'python/xenapi_client.py');
  const { stdout } = await run('/usr/bin/python3', [script, `${m.httpUrl}/`, 'root', m.rootPassword], {
    timeout: 50_000,
  });
  const out = JSON.parse(stdout);
  assert.equal(out.api_major, '2');
  assert.equal(out.api_minor, '21');
  assert.equal(out.product_brand, 'Berth');
  assert.equal(out.control_domains, 1);
  assert.equal(out.dom0_memory_type, 'str', 'int64 arrives as a string in XML-RPC');
  assert.equal(out.pif_where, 0);
  assert.equal(out.event_seen, 'changed-by-python');
  assert.equal(out.valid_ref_counts_has_task, true);
  assert.deepEqual(out.failure, ['HANDLE_INVALID', 'VM', 'OpaqueRef:00000000-0000-0000-0000-000000000000']);
  assert.deepEqual(out.count_mismatch, ['MESSAGE_PARAMETER_COUNT_MISMATCH', 'VM.get_record', '1', '0']);
  assert.equal(out.task_status, 'success');
  assert.deepEqual(out.task_result, { edition: 'berth', expiry: 'never' });
});

test('XenAPI.py over the local Unix socket logs in without a password', { timeout: 30_000 }, async (t) => {
  const m = await startManager(t);
  // Debian's binding ships a UDSTransport that breaks on Python 3.11 (send_request signature), so
  // the session rides on a minimal AF_UNIX transport of the standard library's xmlrpc.client.
  const code = [
    'import sys, socket, http.client, xmlrpc.client',
    'from os_xenapi.client import XenAPI',
    'class Conn(http.client.HTTPConnection):',
    '    def connect(self):',
    '        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); self.sock.connect(sys.argv[1])',
    'class UDS(xmlrpc.client.Transport):',
    '    def make_connection(self, host): return Conn("localhost")',
    's = XenAPI.Session("http://localhost/", transport=UDS())',
    's.xenapi.login_with_password("root", "")',
    'print(s.xenapi.session.get_is_local_superuser(s.handle))',
    's.xenapi.session.logout()',
  ].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', code, m.socketPath], { timeout: 20_000 });
  assert.equal(stdout.trim(), 'True');
});
