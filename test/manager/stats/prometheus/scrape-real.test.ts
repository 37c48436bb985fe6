// The real Prometheus server scrapes a real manager's /metrics (bearer token) and answers through
// its HTTP API with exactly Berth's figures and labels: first from a stand-in agent's fixed latest
// values (exact values, escaping, names as Prometheus reads them), then from a real agent's RRDs
// over its RPC, fed by a scripted sampler (the whole chain but the readings themselves).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { catalogDescribe } from '../../../../src/manager/stats/prometheus/describe.js';
import { mountMetrics } from '../../../../src/manager/stats/prometheus/handler.js';
import { type LatestValues, type StatsProcedures, statsClient } from '../../../../src/shared/host/stats.js';
import { type Agent, startAgent } from '../../../../src/agent/agent.js';
import { NodedAgentClient } from '../../../../src/manager/hosts/host-client.js';
import { ScriptedSampler, valueAt } from '../../../agent/stats/scripted-sampler.js';
import { startManager, type TestManager } from '../../../helpers/manager.js';
import {
  eventually,
  havePrometheus,
  promtoolCheck,
  startPrometheus,
} from '../../../helpers/prometheus-server.js';
import { tempDir } from '../../../helpers/tmp.js';
import { FakeAgent } from '../../vm/fake-agent.js';

test("Prometheus scrapes /metrics with a bearer token and reads back Berth's values", {
  skip: !havePrometheus(),
}, async (t) => {
  const fake = new FakeAgent();
  const tm = await startManager(t, { agent: fake });
  const svc = tm.manager.svc;
  const vmUuid = await cloneTemplate(tm, 'db "one"');
  const hostUuid = String(svc.db.get('host', svc.hostRef())!.uuid);
  const latest: LatestValues = {
    time: 1,
    host: { cpu_avg: 0.1234567890123, memory_free_kib: 7654321 },
    vms: { [vmUuid]: { cpu0: 0.4375, cpu1: 1e-9 } },
    srs: {},
  };
  (fake as unknown as { stats: StatsProcedures }).stats = statsClient(async () => latest);
  const token = 'prom-e2e-5a0b9c';
  const tokenFile = join(tempDir(t), 'metrics.token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  mountMetrics(tm.manager.frontend, svc, { tokenFile, describe: catalogDescribe });

  const prom = await startPrometheus(t, new URL(tm.httpUrl).host, { bearer: token });
  const vmCpu = await eventually(
    async () => (await prom.query(`berth_vm_cpu0{vm="${vmUuid}"}`))[0],
    30_000,
    "a scrape with the VM's cpu0",
  ).catch((e) => assert.fail(`${e}\n${prom.log()}`));
  assert.equal(Number(vmCpu.value[1]), 0.4375);
  assert.deepEqual(
    { ...vmCpu.metric },
    {
      __name__: 'berth_vm_cpu0',
      job: 'berth',
      instance: new URL(tm.httpUrl).host,
      host: hostUuid,
      vm: vmUuid,
      name_label: 'db "one"',
    },
  );
  const [cpu1] = await prom.query(`berth_vm_cpu1{vm="${vmUuid}"}`);
  assert.equal(Number(cpu1.value[1]), 1e-9);
  const [avg] = await prom.query(`berth_host_cpu_avg{host="${hostUuid}"}`);
  assert.equal(Number(avg.value[1]), 0.1234567890123);
  const [up] = await prom.query('up{job="berth"}');
  assert.equal(up.value[1], '1');
  const [hostUp] = await prom.query(`berth_scrape_host_up{host="${hostUuid}"}`);
  assert.equal(hostUp.value[1], '1');
  // A new figure reaches Prometheus at the next scrapes.
  latest.vms[vmUuid].cpu0 = 0.8125;
  await eventually(
    async () =>
      (await prom.query(`berth_vm_cpu0{vm="${vmUuid}"}`))[0]?.value[1] === '0.8125' ? true : undefined,
    10_000,
    'the new cpu0',
  );
});

/** The value of `name`'s sample with `label` in an exposition text (undefined: none). */
function sampleValue(text: string, name: string, label: string): number | undefined {
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(label))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  return undefined;
}

test("Prometheus and Berth agree: a real agent's RRDs over its RPC, sampled every 2 s", {
  skip: !havePrometheus(),
}, async (t) => {
  const sampler = new ScriptedSampler();
  let agent: Agent | undefined;
  let client: NodedAgentClient | undefined;
  t.after(async () => {
    client?.close();
    await agent?.close();
  });
  const dir = tempDir(t, 'berth-agent-');
  const socketPath = join(dir, 'agent.sock');
  agent = await startAgent({
    socketPath,
    runRoot: join(dir, 'run'),
    logRoot: join(dir, 'log'),
    stateRoots: [join(dir, 'state')],
    accel: 'tcg',
    stats: { sampler, stepMs: 2000 },
  });
  client = new NodedAgentClient(socketPath);
  const tm = await startManager(t, { agent: client });
  const svc = tm.manager.svc;
  const vmUuid = await cloneTemplate(tm, 'sampled');
  sampler.vms.add(vmUuid);
  const token = 'prom-chain-77e1';
  const tokenFile = join(tempDir(t), 'metrics.token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  mountMetrics(tm.manager.frontend, svc, { tokenFile, describe: catalogDescribe });
  const berth = async () =>
    (await fetch(`${tm.httpUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();

  const prom = await startPrometheus(t, new URL(tm.httpUrl).host, { bearer: token });
  const label = `vm="${vmUuid}"`;
  // The figure Prometheus holds now is the one Berth serves now (retried across a sampling cycle).
  const agreed = await eventually(
    async () => {
      const before = sampleValue(await berth(), 'berth_vm_cpu0', label);
      const [p] = await prom.query(`berth_vm_cpu0{${label}}`);
      const after = sampleValue(await berth(), 'berth_vm_cpu0', label);
      return p && before !== undefined && before === after && Number(p.value[1]) === before
        ? before
        : undefined;
    },
    40_000,
    'the same berth_vm_cpu0 in Prometheus and in Berth',
  ).catch((e) => assert.fail(`${e}\n${prom.log()}`));
  // And it is one of the scripted sampler's readings (valueAt(…, i) for a reading i).
  const i = agreed - valueAt('vm', 'cpu0', 0, vmUuid);
  assert.ok(Number.isInteger(i) && i >= 0 && i < sampler.i, `cpu0 ${agreed} is reading ${i} of ${sampler.i}`);
  const check = promtoolCheck(await berth());
  assert.equal(check.status, 0, check.output);
  const [hostMem] = await prom.query('berth_host_memory_total_kib');
  assert.equal(hostMem.metric.host, String(svc.db.get('host', svc.hostRef())!.uuid));
  assert.ok(Number(hostMem.value[1]) >= valueAt('host', 'memory_total_kib', 0));
});

/** Uuid of a new VM `nameLabel` cloned from the manager's first template. */
async function cloneTemplate(tm: TestManager, nameLabel: string): Promise<string> {
  const svc = tm.manager.svc;
  const root = svc.sessions.validate(await svc.sessions.loginWithPassword('root', tm.rootPassword, 'test'));
  const call = (wire: string, ...args: unknown[]) => svc.call(root, wire, args);
  const templates = (await call('VM.get_all_records')) as Record<string, { is_a_template: boolean }>;
  const vm = (await call(
    'VM.clone',
    Object.keys(templates).find((r) => templates[r].is_a_template)!,
    nameLabel,
  )) as string;
  return (await call('VM.get_uuid', vm)) as string;
}
