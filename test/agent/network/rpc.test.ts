// The networking procedures over the agent's RPC (a real agent on a Unix socket, its networking in
// a test namespace): every contract procedure is served, and arguments of the wrong type get a
// clean INVALID_VALUE from the agent before anything touches the kernel.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { links } from '../../../src/agent/network/ip.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { NETWORK_PROCEDURES } from '../../../src/shared/host/network.js';
import { AgentError } from '../../../src/shared/noded/protocol.js';
import { startNetworkAgent } from '../../helpers/network-agent.js';
import { netns } from './netns.js';

const kernelNames = async (ns: string) => (await links({ netns: ns })).map((l) => l.ifname).sort();

/** The XenAPI error description a call fails with. */
async function failure(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof XenApiError, `a XenAPI error, not ${String(e)}`);
    return e.description;
  }
  throw new Error('the call did not fail');
}

test('network procedures with arguments of the wrong type get INVALID_VALUE and change nothing', async (t) => {
  const ns = await netns(t, 'rpc');
  const { client } = await startNetworkAgent(t, { netns: ns });
  const before = await kernelNames(ns);
  const cases: [string, unknown[], string[]][] = [
    ['bridge_create', [42], ['INVALID_VALUE', 'bridge', '42']],
    ['bridge_create', ['rpcbr0', '1500'], ['INVALID_VALUE', 'mtu', '"1500"']],
    ['bridges_exist', ['rpcbr0'], ['INVALID_VALUE', 'bridges', '"rpcbr0"']],
    ['bridges_exist', [['rpcbr0', 7]], ['INVALID_VALUE', 'bridges', '["rpcbr0",7]']],
    ['vif_attach', ['vif0', 'rpcbr0', 1.5, {}], ['INVALID_VALUE', 'mtu', '1.5']],
    [
      'vif_attach',
      ['vif0', 'rpcbr0', null, { mtu: 9000 }],
      ['INVALID_VALUE', 'other_config', '{"mtu":9000}'],
    ],
    ['vif_configure', ['vif0', ['mtu']], ['INVALID_VALUE', 'other_config', '["mtu"]']],
    ['pif_reconfigure_ip', ['rpcbr0', 'DHCP'], ['INVALID_VALUE', 'ip_configuration', '"DHCP"']],
    ['pif_reconfigure_ip', ['rpcbr0', { mode: 'Bogus' }], ['INVALID_VALUE', 'mode', '"Bogus"']],
    ['pif_reconfigure_ip', ['rpcbr0', { mode: 'Static', IP: 10 }], ['INVALID_VALUE', 'IP', '10']],
    ['vlan_create', ['eth0', '10', 'rpcbr0'], ['INVALID_VALUE', 'tag', '"10"']],
    [
      'bond_create',
      ['bond0', 'eth0,eth1', 'lacp', {}, '', 'rpcbr0'],
      ['INVALID_VALUE', 'members', '"eth0,eth1"'],
    ],
    ['bond_create', ['bond0', ['eth0', 'eth1'], 'lacp', {}, 5, 'rpcbr0'], ['INVALID_VALUE', 'MAC', '5']],
    ['bond_links_up', [{ eth0: true }], ['INVALID_VALUE', 'members', '{"eth0":true}']],
  ];
  for (const [proc, args, want] of cases)
    assert.deepEqual(await failure(client.call(proc, args)), want, `${proc}(${JSON.stringify(args)})`);
  // A long value is cut in the error, not echoed whole.
  const [, , long] = await failure(client.call('bridge_create', [{ x: 'y'.repeat(1000) }]));
  assert.ok(long.length < 300);
  assert.deepEqual(await kernelNames(ns), before, 'no kernel object was made');
  // Still serving normally afterwards.
  await client.network.bridge_create('rpcbr0', 1400);
  assert.equal(await client.network.bridges_exist(['rpcbr0']), true);
  assert.equal(await client.network.bridge_destroy('rpcbr0'), true);
});

test('the agent serves every procedure of the networking contract', async (t) => {
  const ns = await netns(t, 'rpcall');
  const { client } = await startNetworkAgent(t, { netns: ns });
  for (const proc of NETWORK_PROCEDURES) {
    // An unknown procedure would be an AgentError (HTTP 404); a served one checks its arguments.
    const r = await client.call(proc, [{ not: 'an argument' }]).catch((e: unknown) => e);
    assert.ok(!(r instanceof AgentError), `${proc}: ${String(r)}`);
    if (proc !== 'pif_scan') assert.ok(r instanceof XenApiError && r.code === 'INVALID_VALUE', proc);
  }
  assert.ok((await client.call('no_such_procedure').catch((e: unknown) => e)) instanceof AgentError);
});
