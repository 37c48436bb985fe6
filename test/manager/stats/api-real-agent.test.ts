// The archive against a real agent's statistics (src/agent/stats over its RPC): a VM's RRD taken
// at halt survives a manager restart and is pushed back at the next start, the agent's dump then
// holding the old rows exactly; and the data-source messages over the real store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatsProcedures } from '../../../src/shared/host/stats.js';
import { createRrd, updateRrd } from '../../../src/shared/rrd/rrd.js';
import { dumpXml } from '../../../src/shared/rrd/dump.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { statsSettled } from '../../../src/manager/stats/hooks.js';
import { newVm, type Setup, setup } from './harness.js';

/** A VM RRD with a few known rows (memory 100 MiB, 200 MiB, 300 MiB), as an internal dump. */
function vmDump(): string {
  const t0 = 1_700_000_000;
  const rrd = createRrd({
    time: t0,
    ds: [{ name: 'memory', type: 'GAUGE', min: 0, max: Number.POSITIVE_INFINITY }],
    minMax: false,
  });
  for (let i = 1; i <= 3; i++) updateRrd(rrd, t0 + 5 * i, new Map([['memory', i * 100 * 1024 * 1024]]));
  return dumpXml(rrd, { internal: true });
}

const useStats = (s: Setup, stats: StatsProcedures) => {
  (s.agent as unknown as { stats: StatsProcedures }).stats = stats;
};

test('a real agent: halt archives the RRD, a restarted manager pushes it back at start', async (t) => {
  const real = await startTestAgent(t, { stateRoot: tempDir(t) });
  real.client.connect();
  const until = Date.now() + 10_000;
  while (!real.client.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const stats = real.client.stats;
  const dataDir = tempDir(t);

  const s1 = await setup(t, dataDir);
  useStats(s1, stats);
  const { vm, uuid } = await newVm(s1);
  await s1.call('VM.start', vm, false, false);
  await stats.stats_rrd_push('vm', uuid, vmDump()); // what the agent recorded while it ran
  const ran = await stats.stats_rrd_dump('vm', uuid, false);
  assert.match(String(ran), /<v>314572800<\/v>/, 'the rows are there');
  const sources = (await s1.call('VM.get_data_sources', vm)) as { name_label: string }[];
  assert.ok(sources.some((d) => d.name_label === 'memory'));
  assert.equal(await s1.call('VM.query_data_source', vm, 'memory'), 314572800);
  assert.equal((await s1.failure('VM.query_data_source', vm, 'no_such_source'))[0], 'INVALID_VALUE');
  await s1.call('VM.hard_shutdown', vm);
  await statsSettled(s1.m.manager.svc);
  assert.equal(await stats.stats_rrd_dump('vm', uuid, false), null, 'taken from the agent');
  assert.deepEqual((await stats.stats_rrd_list()).vms, []);
  await s1.m.manager.close();

  const s2 = await setup(t, dataDir);
  useStats(s2, stats);
  await s2.call('VM.start', vm, false, false);
  await statsSettled(s2.m.manager.svc);
  assert.equal(await stats.stats_rrd_dump('vm', uuid, false), ran, 'the same RRD, rows and all');
});
