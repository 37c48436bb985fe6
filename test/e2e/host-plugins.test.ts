// host.call_plugin end to end: XenAPI client → manager → agent RPC → plugin → back, with the
// plugin's results and XenAPI errors intact on the wire.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../src/agent/agent.js';
import { XenApiClient } from '../../src/clients/sdk/client.js';
import { NodedAgentClient } from '../../src/manager/hosts/host-client.js';
import { startManager } from '../helpers/manager.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/stack.js';
import { xe } from '../manager/cli/harness.js';

test('host.call_plugin reaches the agent and returns the plugin result or its error', {
  timeout: 60_000,
}, async (t) => {
  const dir = tempDir(t, 'berth-plugins-');
  const socketPath = join(dir, 'agent.sock');
  const agent = await startAgent({
    socketPath,
    runRoot: join(dir, 'run'),
    logRoot: join(dir, 'log'),
    stateRoots: [dir],
    accel: 'tcg',
  });
  t.after(() => agent.close());
  const client = new NodedAgentClient(socketPath);
  const m = await startManager(t, { dataDir: dir, agent: client }); // the agent's state root: SRs under DIR/sr
  client.connect();
  await waitFor(() => client.connected, 10_000, 'agent connection');
  const c = new XenApiClient({ url: m.httpUrl });
  t.after(() => c.close());
  await c.login('root', m.rootPassword);
  const [host] = (await c.call('host.get_all')) as string[];

  const out = JSON.parse(
    (await c.call('host.call_plugin', host as any, 'lsblk.py', 'list_block_devices', {})) as string,
  );
  assert.ok(Array.isArray(out.blockdevices ?? out), 'lsblk returns its JSON');
  const ht = JSON.parse(
    (await c.call('host.call_plugin', host as any, 'hyperthreading', 'get_hyperthreading', {})) as string,
  );
  assert.equal(typeof ht, 'boolean');

  await assert.rejects(c.call('host.call_plugin', host as any, 'no-such-plugin', 'f', {}), (e: any) => {
    assert.equal(e.code, 'XENAPI_MISSING_PLUGIN');
    assert.deepEqual(e.params, ['no-such-plugin']);
    return true;
  });
  await assert.rejects(
    c.call('host.call_plugin', host as any, 'lvm', 'create_volume_group', {}),
    (e: any) => e.code === 'XENAPI_PLUGIN_FAILURE',
  );
  // The same through xe host-call-plugin (server-side command processing, thin client).
  const hostUuid = (await c.call('host.get_uuid', host as any)) as string;
  const ok = await xe(m, [
    'host-call-plugin',
    `host-uuid=${hostUuid}`,
    'plugin=hyperthreading.py',
    'fn=get_hyperthreading',
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout.trim(), /^(true|false)$/);
  const bad = await xe(m, ['host-call-plugin', `host-uuid=${hostUuid}`, 'plugin=nope', 'fn=x']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /The requested plug-in could not be found\.\nname: nope/);
  // Agent version over the same RPC.
  const v = (await client.version()) as { protocol: number };
  assert.equal(v.protocol, 1);
});
