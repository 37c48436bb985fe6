// `berth network` and `berth pif` against a real manager whose host networking is a real agent in
// a test network namespace (veth NICs eth4/eth5 with peers in a second namespace).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import type { CliError } from '../../../src/clients/berth/errors.js';
import { networkNoun } from '../../../src/clients/berth/nouns/network.js';
import { pifNoun } from '../../../src/clients/berth/nouns/pif.js';
import type { XenApiError } from '../../../src/shared/errors.js';
import { ipIn, kernelSupports, netns, vethInto } from '../../agent/network/netns.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';
import { startNetworkAgent } from '../../helpers/network-agent.js';

const cliError = (code: number, re: RegExp) => (e: CliError) => e.exitCode === code && re.test(e.message);

test('network create/update/remove and pif scan/reconfigure-ip/unplug/plug', async (t) => {
  const ns = await netns(t, 'infra');
  const peer = await netns(t, 'infrap');
  await vethInto(ns, 'eth4', peer, 'p4');
  await vethInto(ns, 'eth5', peer, 'p5');
  const { client } = await startNetworkAgent(t, { netns: ns, nicKinds: ['veth'] });
  const m = await startManager(t, { agent: client, networking: { defaultNetwork: false } });
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));
  const [host] = await api.allRecords('host');
  for (let i = 0; i < 200 && !(await api.call('host_metrics.get_live', host.record.metrics)); i++)
    await new Promise((r) => setTimeout(r, 25));

  // pif scan finds the NICs.
  assert.equal((await runVerb(api, pifNoun, 'scan', undefined, {})).outcome, true);
  const pifs = await api.allRecords('PIF');
  assert.deepEqual(pifs.map((p) => p.record.device).sort(), ['eth4', 'eth5']);
  const eth4 = pifs.find((p) => p.record.device === 'eth4') as ApiObject;
  // PIF.scan put each NIC on a network of its own.
  const names = async () => (await api.allRecords('network')).map((n) => String(n.record.name_label)).sort();
  const scanned = await names();
  assert.equal(scanned.length, 2);

  // network create: bad input first, nothing made.
  await assert.rejects(runVerb(api, networkNoun, 'create', undefined, {}), cliError(253, /a name \(-n\)/));
  await assert.rejects(
    runVerb(api, networkNoun, 'create', undefined, { name: 'x', mtu: 20 }),
    cliError(253, /invalid MTU '20'/),
  );
  await assert.rejects(
    runVerb(api, networkNoun, 'create', undefined, { name: 'x', vlan: 100 }),
    cliError(253, /needs both its tag \(-v\) and the PIF/),
  );
  await assert.rejects(
    runVerb(api, networkNoun, 'create', undefined, { name: 'x', vlan: 5000, pif: 'eth4' }),
    cliError(253, /invalid VLAN tag '5000'/),
  );
  await assert.rejects(
    runVerb(api, networkNoun, 'create', undefined, { name: 'x', vlan: 100, pif: 'eth9' }),
    cliError(252, /no PIF eth9 on host/),
  );
  assert.deepEqual(await names(), scanned);

  const net = (await runVerb(api, networkNoun, 'create', undefined, { name: 'storage', mtu: 9000 }))
    .outcome as ApiObject;
  assert.equal(net.record.name_label, 'storage');
  assert.equal(net.record.MTU, 9000);
  const bridge = String(net.record.bridge);
  assert.match(await ipIn(ns, 'link', 'show', 'dev', bridge), /mtu 9000/);

  assert.equal((await runVerb(api, networkNoun, 'update', net, { mtu: 1400, name: 'san' })).outcome, true);
  const updated = (await api.refresh(net)).record;
  assert.equal(updated.MTU, 1400);
  assert.equal(updated.name_label, 'san');
  await assert.rejects(runVerb(api, networkNoun, 'update', net, {}), cliError(253, /nothing to update/));

  // A VLAN network: made on eth4 where the kernel has 802.1q, else the agent's error and no network.
  const vlanOpts = { name: 'v100', vlan: 100, pif: 'eth4' };
  if (await kernelSupports(t, 'vlan')) {
    const v = (await runVerb(api, networkNoun, 'create', undefined, vlanOpts)).outcome as ApiObject;
    const [tagged] = v.record.PIFs as string[];
    assert.equal(await api.call('PIF.get_VLAN', tagged), 100);
    assert.equal((await runVerb(api, networkNoun, 'remove', v)).outcome, true);
    assert.deepEqual(await api.call('VLAN.get_all'), []);
  } else {
    await assert.rejects(
      runVerb(api, networkNoun, 'create', undefined, vlanOpts),
      (e: XenApiError) => e.code === 'INTERNAL_ERROR',
    );
  }
  assert.deepEqual(await names(), [...scanned, 'san'].sort(), 'no VLAN network left');

  // pif reconfigure-ip on eth4 (a bridge of its own then carries the address).
  await assert.rejects(
    runVerb(api, pifNoun, 'reconfigure-ip', eth4, { mode: 'manual' }),
    cliError(253, /dhcp, static or none/),
  );
  const r = await runVerb(api, pifNoun, 'reconfigure-ip', eth4, {
    mode: 'static',
    ip: '10.83.0.2',
    netmask: '255.255.255.0',
    gateway: '10.83.0.1',
  });
  assert.equal(r.outcome, true);
  const configured = (await api.refresh(eth4)).record;
  assert.equal(configured.ip_configuration_mode, 'Static');
  assert.equal(configured.IP, '10.83.0.2');
  assert.equal(configured.currently_attached, true);
  assert.equal((await runVerb(api, pifNoun, 'unplug', eth4)).outcome, true);
  assert.equal((await api.refresh(eth4)).record.currently_attached, false);
  assert.equal((await runVerb(api, pifNoun, 'plug', eth4)).outcome, true);
  assert.equal((await api.refresh(eth4)).record.currently_attached, true);

  assert.equal((await runVerb(api, networkNoun, 'remove', net)).outcome, true);
  assert.ok(!(await api.allRecords('network')).some((n) => n.ref === net.ref));
});
