// `berth host` verbs against a real manager and a real in-process agent. The agent's updater
// plugin is scripted (a client whose host_call_plugin answers for it): the real one would install
// packages on this machine. Bonding runs against a real agent in a test namespace.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { Api } from '../../../src/clients/berth/api.js';
import type { CliError } from '../../../src/clients/berth/errors.js';
import { bondRequest } from '../../../src/clients/berth/infra/bond-options.js';
import { statisticLine } from '../../../src/clients/berth/infra/statistics.js';
import { MAINTENANCE_REASON_KEY, hostNoun } from '../../../src/clients/berth/nouns/host.js';
import { taskNoun } from '../../../src/clients/berth/nouns/task.js';
import { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { kernelSupports, netns, vethInto } from '../../agent/network/netns.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';
import { startNetworkAgent } from '../../helpers/network-agent.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';

/** A real agent's client whose updater plugin answers from a script. */
class ScriptedUpdater extends NodedAgentClient {
  calls: string[] = [];
  checkAnswer: () => string = () => JSON.stringify({ result: [] });
  updateAnswer: () => string = () => '';
  override callPlugin(plugin: string, fn: string, args: Record<string, string>) {
    if (plugin !== 'updater') return super.callPlugin(plugin, fn, args);
    this.calls.push(fn);
    return Promise.resolve().then(() => (fn === 'check_update' ? this.checkAnswer() : this.updateAnswer()));
  }
}

async function setup(t: TestContext) {
  const dataDir = tempDir(t);
  const a = await startTestAgent(t, {
    stateRoot: dataDir,
    hostOps: { rebootCommand: ['true'], powerDelaySec: 0 },
  });
  const agent = new ScriptedUpdater(a.socketPath);
  t.after(() => agent.close());
  const m = await startManager(t, { dataDir, agent });
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));
  const [host] = await api.allRecords('host');
  return { m, api, host, agent };
}

const fresh = (api: Api, ref: string) => api.byRef('host', ref);

test('host list, statistics, maintenance, activate, evacuate, reboot, remove', async (t) => {
  const { api, host } = await setup(t);
  const listed = await runVerb(api, hostNoun, 'list', [host]);
  assert.deepEqual((listed.outcome as { records: unknown[] }).records, [host]);

  // statistics: every data source the host reports, one line each (none sampled here: no lines).
  const sources = (await api.call('host.get_data_sources', host.ref)) as unknown[];
  const stats = await runVerb(api, hostNoun, 'statistics', [host]);
  assert.equal(stats.outcome === undefined ? 0 : String(stats.outcome).split('\n').length, sources.length);

  // reboot keeps xapi's rule: an enabled host is refused.
  await assert.rejects(
    runVerb(api, hostNoun, 'reboot', host),
    (e: XenApiError) => e.code === 'HOST_NOT_DISABLED',
  );

  const m1 = await runVerb(api, hostNoun, 'deactivate', host, { reason: 'disk replacement' });
  assert.equal(m1.outcome, true);
  let rec = await fresh(api, host.ref);
  assert.equal(rec.record.enabled, false);
  assert.equal(
    (rec.record.other_config as Record<string, string>)[MAINTENANCE_REASON_KEY],
    'disk replacement',
  );
  // Maintenance again is harmless (already disabled, nothing to move).
  assert.equal((await runVerb(api, hostNoun, 'maintenance', rec, {})).outcome, true);

  // Disabled and empty: reboot goes through to the agent's (harmless, scripted) power command.
  assert.equal((await runVerb(api, hostNoun, 'reboot', rec)).outcome, true);

  const a1 = await runVerb(api, hostNoun, 'activate', rec);
  assert.equal(a1.outcome, true);
  rec = await fresh(api, host.ref);
  assert.equal(rec.record.enabled, true);
  assert.equal((rec.record.other_config as Record<string, string>)[MAINTENANCE_REASON_KEY], undefined);

  assert.equal((await runVerb(api, hostNoun, 'evacuate', rec)).outcome, true);
  assert.equal((await runVerb(api, hostNoun, 'evacuate', rec, { batch_size: 2 })).outcome, true);
  assert.equal((await fresh(api, host.ref)).record.enabled, true, 'evacuate alone does not disable');

  // -a: the host is disabled at once, the evacuation runs as a task.
  assert.equal((await runVerb(api, hostNoun, 'maintenance', rec, { async: true })).outcome, true);
  assert.equal((await fresh(api, host.ref)).record.enabled, false);
  const evacuations = (await api.allRecords('task')).filter((x) =>
    /evacuate/.test(String(x.record.name_label)),
  );
  assert.equal(
    evacuations.length,
    1,
    JSON.stringify((await api.allRecords('task')).map((x) => x.record.name_label)),
  );
  await runVerb(api, hostNoun, 'activate', await fresh(api, host.ref));
  await assert.rejects(
    runVerb(api, hostNoun, 'evacuate', rec, { network: 'no-such-net' }),
    (e: CliError) => e.exitCode === 252 && /no network found matching 'no-such-net'/.test(e.message),
  );

  // host.destroy refuses the live master (xapi's rule), and it stays.
  await assert.rejects(runVerb(api, hostNoun, 'remove', rec), XenApiError);
  assert.equal((await api.allRecords('host')).length, 1);
});

test('host upgradecheck and upgrade: the seed statuses over the updater plugin', async (t) => {
  const { api, host, agent } = await setup(t);
  // Nothing offered.
  assert.equal((await runVerb(api, hostNoun, 'upgradecheck', host)).outcome, 'Nothing to do, up to date');
  assert.deepEqual((await runVerb(api, hostNoun, 'upgrade', host)).outcome, {
    exitCode: 0,
    message: 'Upgrade not needed',
  });
  assert.deepEqual(agent.calls, ['check_update', 'check_update']);
  assert.equal((await fresh(api, host.ref)).record.enabled, true, 'no maintenance when nothing to do');

  // Two updates offered.
  const pkgs = [
    { name: 'bash', version: '5.2.15', release: '2+b13', arch: 'amd64' },
    { name: 'tzdata', version: '2025b', release: '', arch: 'all' },
  ];
  agent.checkAnswer = () => JSON.stringify({ result: pkgs });
  assert.equal(
    (await runVerb(api, hostNoun, 'upgradecheck', host)).outcome,
    'bash 5.2.15-2+b13 amd64\ntzdata 2025b all',
  );
  agent.calls = [];
  assert.deepEqual((await runVerb(api, hostNoun, 'upgrade', host)).outcome, {
    exitCode: 0,
    message: 'Upgraded succeeded',
  });
  assert.deepEqual(agent.calls, ['check_update', 'update']);
  const after = await fresh(api, host.ref);
  assert.equal(after.record.enabled, false, 'upgrade leaves the host in maintenance');
  assert.equal((after.record.other_config as Record<string, string>)[MAINTENANCE_REASON_KEY], 'For upgrade');

  // The update fails: status 4 → exit 1 with the plugin's error.
  agent.updateAnswer = () => {
    throw new XenApiError('XENAPI_PLUGIN_FAILURE', ['-1', 'dpkg was interrupted', '']);
  };
  const failed = (await runVerb(api, hostNoun, 'upgrade', after)).outcome as {
    exitCode: number;
    message: string;
  };
  assert.equal(failed.exitCode, 1);
  assert.match(failed.message, /^Upgrade failed: XENAPI_PLUGIN_FAILURE.*dpkg was interrupted/);

  // The check fails: status 5 → exit 2.
  agent.checkAnswer = () => 'not json';
  const bad = (await runVerb(api, hostNoun, 'upgrade', after)).outcome as {
    exitCode: number;
    message: string;
  };
  assert.equal(bad.exitCode, 2);
  assert.match(bad.message, /^Upgrade check failed: /);

  // Async: the update is started as a task; the verb answers at once.
  agent.checkAnswer = () => JSON.stringify({ result: pkgs });
  agent.updateAnswer = () => '';
  assert.deepEqual((await runVerb(api, hostNoun, 'upgrade', after, { async: true })).outcome, {
    exitCode: 0,
    message: 'Upgrade in progress',
  });
  const uuid = String((await runVerb(api, hostNoun, 'upgradecheck', after, { async: true })).outcome);
  assert.match(uuid, /^[0-9a-f-]{36}$/);
  assert.ok(await api.call('task.get_by_uuid', uuid));
});

test('task cancel marks a running task cancelled (a slow plugin call)', async (t) => {
  const { api, host, agent } = await setup(t);
  agent.updateAnswer = () => new Promise((r) => setTimeout(() => r(''), 1500)) as unknown as string;
  const ref = await api.callAsync('host.call_plugin', host.ref, 'updater', 'update', {});
  const task = await api.byRef('task', ref);
  assert.equal(task.record.status, 'pending');
  const r = await runVerb(api, taskNoun, 'cancel', [task], {}, [], { id: String(task.record.uuid) });
  assert.equal(r.outcome, true);
  const cancelled = (await api.refresh(task)).record;
  assert.ok(
    cancelled.status === 'cancelled' ||
      Object.values(cancelled.current_operations as object).includes('cancel'),
    JSON.stringify(cancelled),
  );
  // The plugin call ends on its own; let the task finish before the manager stops.
  for (let i = 0; i < 100 && (await api.call('task.get_status', ref)) === 'pending'; i++)
    await new Promise((res) => setTimeout(res, 50));
});

test('bond options map Linux bonding names onto XenAPI modes and properties', () => {
  assert.deepEqual(bondRequest({ miimon: '100', mode: '4', xmit_hash_policy: 'layer3+4' }), {
    mode: 'lacp',
    properties: { miimon: '100', hashing_algorithm: 'tcpudp_ports' },
  });
  assert.deepEqual(bondRequest({ mode: 'active-backup', updelay: '200' }), {
    mode: 'active-backup',
    properties: { updelay: '200' },
  });
  assert.deepEqual(bondRequest({}), { mode: 'balance-slb', properties: {} });
  assert.deepEqual(bondRequest({ mode: '802.3ad', lacp_rate: '1' }).properties, { 'lacp-time': 'fast' });
  const usage = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: CliError) => e.exitCode === 253 && re.test(e.message));
  usage(() => bondRequest({ mode: '0' }), /bond mode '0' has no XenAPI equivalent/);
  usage(
    () => bondRequest({ mode: '4', xmit_hash_policy: 'layer2+3' }),
    /layer2\+3' has no XenAPI equivalent/,
  );
  usage(() => bondRequest({ xmit_hash_policy: 'layer2' }), /mode 4 .* only/);
  usage(() => bondRequest({ miimon: 'often' }), /takes milliseconds/);
  usage(() => bondRequest({ arp_interval: '1' }), /unknown bond option 'arp_interval'/);
});

test('host bond over a real agent: bad input, then Bond.create on the host PIFs', async (t) => {
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
  await api.call('PIF.scan', host.ref);
  const nets = async () => (await api.allRecords('network')).map((n) => n.record.name_label);
  const before = await nets();

  const rejects = (opts: Record<string, unknown>, code: number, re: RegExp) =>
    assert.rejects(
      runVerb(api, hostNoun, 'bond', host, opts),
      (e: CliError) => e.exitCode === code && re.test(e.message),
    );
  await rejects({ interface: ['eth4'] }, 253, /at least two interfaces/);
  await rejects({ interface: ['eth4', 'eth9'] }, 252, /no PIF eth9 on host/);
  await rejects({ interface: ['eth4', 'eth5'], bond_option: { mode: '3' } }, 253, /bond mode '3'/);
  await rejects({ interface: ['eth4', 'eth5'], mtu: 12 }, 253, /invalid MTU/);
  assert.deepEqual(await nets(), before, 'bad input creates nothing');

  const opts = { interface: ['eth4', 'eth5'], bond_option: { mode: '1', miimon: '100' }, mtu: 9000 };
  if (!(await kernelSupports(t, 'bond'))) {
    // This kernel has no bonding driver: xapi's error from the agent, and no network left over.
    await assert.rejects(
      runVerb(api, hostNoun, 'bond', host, opts),
      (e: XenApiError) => e.code === 'INTERNAL_ERROR',
    );
    assert.deepEqual(await nets(), before);
    assert.deepEqual(await api.call('Bond.get_all'), []);
    // On a network given with -n: the same error, and the network (not the verb's) stays.
    await api.call('network.create', { name_label: 'given', other_config: {} });
    await assert.rejects(
      runVerb(api, hostNoun, 'bond', host, { ...opts, network: 'given' }),
      (e: XenApiError) => e.code === 'INTERNAL_ERROR',
    );
    assert.deepEqual((await nets()).sort(), [...before, 'given'].sort());
    return;
  }
  assert.equal((await runVerb(api, hostNoun, 'bond', host, opts)).outcome, true);
  const [bond] = await api.allRecords('Bond');
  assert.equal(bond.record.mode, 'active-backup');
  const master = await api.byRef('PIF', String(bond.record.master));
  const net = await api.byRef('network', String(master.record.network));
  assert.equal(net.record.name_label, 'bond0');
  assert.equal(net.record.MTU, 9000);
});

test('statistics lines: name, value, unit and description', () => {
  assert.equal(
    statisticLine({
      name_label: 'memory_free_kib',
      value: 1024,
      units: 'KiB',
      name_description: 'Free memory',
    }),
    'memory_free_kib: 1024 KiB (Free memory)',
  );
  assert.equal(
    statisticLine({ name_label: 'cpu0', value: 0.25, units: '', name_description: '' }),
    'cpu0: 0.25',
  );
  assert.equal(
    statisticLine({ name_label: 'loadavg', value: null, units: '', name_description: 'Domain0 loadavg' }),
    'loadavg: unknown (Domain0 loadavg)',
  );
});
