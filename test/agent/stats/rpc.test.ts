// The statistics procedures over a real agent's RPC (the manager's client, `.stats`): answers
// from RRDs fed by a scripted sampler, and bad arguments refused with INVALID_VALUE, the agent
// still serving after each.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dumpXml } from '../../../src/shared/rrd/dump.js';
import { createRrd, updateRrd } from '../../../src/shared/rrd/rrd.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { ScriptedSampler, T0, valueAt } from './scripted-sampler.js';

const HOST = 'aaaaaaaa-2222-4333-8444-555555555555';
const VM = '11111111-2222-4333-8444-555555555555';
const VM2 = '21111111-2222-4333-8444-555555555555';
const SR = '31111111-2222-4333-8444-555555555555';

/** Rejects with INVALID_VALUE whose first parameter is `param`. */
async function invalid(p: Promise<unknown>, param: string) {
  await assert.rejects(p, (e: { code?: string; params?: string[] }) => {
    assert.equal(e.code, 'INVALID_VALUE', String(e));
    assert.equal(e.params?.[0], param);
    return true;
  });
}

async function fedAgent(t: import('node:test').TestContext) {
  const a = await startTestAgent(t);
  const s = new ScriptedSampler({ vms: [VM], srs: [SR] });
  for (let i = 0; i < 4; i++) a.agent.stats.store.ingest(await s.sample());
  a.client.connect();
  return { ...a, s, stats: a.client.stats };
}

const q = { start: T0, interval: 5, host: true, srUuids: [] as string[], json: false, hostUuid: HOST };

test('rrd_updates, dumps, data sources and latest values over the RPC', async (t) => {
  const { stats } = await fedAgent(t);
  const xml = await stats.stats_rrd_updates(q);
  assert.ok(xml.includes(`<entry>AVERAGE:host:${HOST}:cpu0</entry>`), xml.slice(0, 400));
  assert.ok(xml.includes(`<entry>AVERAGE:vm:${VM}:cpu0</entry>`));
  assert.ok(!xml.includes(`:sr:${SR}:`));
  const json = JSON.parse(
    await stats.stats_rrd_updates({ ...q, host: false, vmUuids: [VM2], srUuids: [SR], json: true }),
  );
  const legend: string[] = json.meta.legend;
  assert.ok(legend.length > 0 && legend.every((l) => l.includes(`:sr:${SR}:`)), String(legend));
  assert.deepEqual([...new Set(legend.map((l) => l.split(':')[3]))].sort(), ['physical_utilisation', 'size']);

  const dump = await stats.stats_rrd_dump('host', '', false);
  assert.ok(dump?.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<rrd>'));
  assert.ok(JSON.parse((await stats.stats_rrd_dump('vm', VM, true))!));
  assert.equal(await stats.stats_rrd_dump('vm', VM2, false), null);

  const ds = (await stats.stats_data_sources('vm', VM))!;
  assert.deepEqual(
    ds.map((d) => [d.name, d.enabled]),
    [
      ['cpu0', true],
      ['memory', true],
      ['memory_internal_free', false],
    ],
  );
  assert.equal(ds[0].value, valueAt('vm', 'cpu0', 3, VM));
  assert.equal(await stats.stats_data_sources('sr', VM2), null);
  assert.equal(await stats.stats_query_data_source('sr', SR, 'size'), valueAt('sr', 'size', 3, SR));

  const latest = await stats.stats_latest();
  assert.equal(latest.vms[VM].memory, valueAt('vm', 'memory', 3, VM));
  assert.deepEqual(await stats.stats_rrd_list(), { vms: [VM], srs: [SR] });
});

test('record, forget, push, take and configure over the RPC', async (t) => {
  const { stats, agent, s } = await fedAgent(t);
  await stats.stats_record_data_source('host', '', 'memory_reclaimed');
  agent.stats.store.ingest(await s.sample());
  assert.equal(
    await stats.stats_query_data_source('host', '', 'memory_reclaimed'),
    valueAt('host', 'memory_reclaimed', 4),
  );
  await stats.stats_forget_data_source_archives('host', '', 'memory_reclaimed');
  await invalid(stats.stats_query_data_source('host', '', 'memory_reclaimed'), 'data_source');

  const taken = (await stats.stats_rrd_take('vm', VM, false))!;
  assert.ok(taken.includes('<rrd>'));
  await stats.stats_rrd_push('vm', VM2, taken);
  assert.deepEqual((await stats.stats_rrd_list()).vms, [VM, VM2]);
  assert.equal(await stats.stats_rrd_dump('vm', VM2, false), await stats.stats_rrd_dump('vm', VM, false));
  assert.equal(await stats.stats_rrd_take('vm', VM2, true), taken);
  assert.equal(await stats.stats_rrd_take('vm', VM2, true), null);

  await stats.stats_configure({ createMinMaxInNewVmRrds: true });
  assert.equal(agent.stats.store.settings.createMinMaxInNewVmRrds, true);
});

test('bad arguments: INVALID_VALUE, nothing changes, the agent goes on', async (t) => {
  const { stats } = await fedAgent(t);
  const call = stats as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const before = await stats.stats_rrd_dump('vm', VM, false);

  await invalid(call.stats_configure({}), 'settings.createMinMaxInNewVmRrds');
  await invalid(call.stats_configure({ createMinMaxInNewVmRrds: true, x: 1 }), 'settings.x');
  await invalid(call.stats_configure('yes'), 'settings');

  await invalid(call.stats_rrd_updates({ ...q, start: 'now' }), 'query.start');
  await invalid(call.stats_rrd_updates({ ...q, interval: -5 }), 'query.interval');
  await invalid(call.stats_rrd_updates({ ...q, cf: 'MEDIAN' }), 'query.cf');
  await invalid(call.stats_rrd_updates({ ...q, vmUuids: ['all'] }), 'query.vmUuids[0]');
  await invalid(call.stats_rrd_updates({ ...q, srUuids: 'x' }), 'query.srUuids');
  await invalid(call.stats_rrd_updates({ ...q, hostUuid: '../x' }), 'query.hostUuid');
  await invalid(call.stats_rrd_updates({ ...q, host: 'true' }), 'query.host');
  await invalid(call.stats_rrd_updates({ ...q, evil: 1 }), 'query.evil');
  await invalid(call.stats_rrd_updates(null), 'query');

  // Well-formed but unanswerable (no RRD asked for; a CF the VM's RRD lacks): an error, as
  // xcp-rrdd's No_RRA_Available, and the agent goes on.
  await assert.rejects(stats.stats_rrd_updates({ ...q, host: false, vmUuids: [] }), /RRA|RRD/);
  await assert.rejects(stats.stats_rrd_updates({ ...q, host: false, cf: 'MIN' }), /RRA|archive/);

  await invalid(call.stats_rrd_dump('pool', '', false), 'owner');
  await invalid(call.stats_rrd_dump('vm', '../../etc/passwd', false), 'uuid');
  await invalid(call.stats_rrd_dump('host', 5, false), 'uuid');
  await invalid(call.stats_rrd_dump('vm', VM, 'yes'), 'json');
  await invalid(call.stats_data_sources('vm', 'not-a-uuid'), 'uuid');
  await invalid(call.stats_query_data_source('vm', VM, 'no_such_source'), 'data_source');
  await invalid(call.stats_query_data_source('vm', VM, 42), 'data_source');
  await invalid(call.stats_query_data_source('vm', VM2, 'cpu0'), 'uuid');
  await invalid(call.stats_record_data_source('vm', VM, 'no_such_source'), 'data_source');
  await invalid(call.stats_record_data_source('vm', VM, '../x'), 'data_source');
  await invalid(call.stats_forget_data_source_archives('sr', SR, 'no_such_source'), 'data_source');

  await invalid(call.stats_rrd_push('vm', VM, '<rrd>corrupt'), 'dump');
  await invalid(call.stats_rrd_push('vm', VM, { rrd: 1 }), 'dump');
  await invalid(call.stats_rrd_push('host', '', before), 'owner');
  await invalid(call.stats_rrd_push('vm', 'x', before), 'uuid');
  await invalid(call.stats_rrd_take('vm', VM, 'yes'), 'remove');
  await invalid(call.stats_rrd_take('host', VM, true), 'owner');

  assert.equal(await stats.stats_rrd_dump('vm', VM, false), before, 'nothing changed');
  assert.deepEqual(await stats.stats_rrd_list(), { vms: [VM], srs: [SR] });
});

test('a 100-source RRD with MIN/MAX archives (~5 MiB of JSON) is pushed over the RPC', async (t) => {
  const a = await startTestAgent(t);
  a.client.connect();
  const ds = Array.from({ length: 100 }, (_, i) => ({
    name: `vbd_xvd${i}_read`,
    type: 'GAUGE' as const,
    min: 0,
    max: Number.POSITIVE_INFINITY,
  }));
  const rrd = createRrd({ time: T0 - 5, ds, minMax: true });
  updateRrd(rrd, T0, new Map(ds.map((d, k) => [d.name, 1000 + k])));
  // A year of history: every row of every archive known, with as many digits as real rates have.
  for (const rra of rrd.rras)
    for (let j = 0; j < rra.data.length; j++) rra.data[j] = 123456.789012345 + j / 7;
  const dump = dumpXml(rrd, { internal: true });
  const bodyBytes = Buffer.byteLength(JSON.stringify(['vm', VM, dump]));
  assert.ok(bodyBytes > 4 * 1024 * 1024, `request body ${bodyBytes} B`);
  await a.client.stats.stats_rrd_push('vm', VM, dump);
  const back = await a.client.stats.stats_rrd_dump('vm', VM, false);
  assert.ok(back?.includes('<name>vbd_xvd99_read</name>'));
  assert.equal((back!.match(/<cf>MAX<\/cf>/g) ?? []).length, 3);
});
