// Metrics fields kept current from the agents' latest values (src/manager/stats/metrics-fields.ts):
// VM_metrics, host_metrics, PIF/VBD/VIF_metrics; nothing written when nothing changed; a VM
// resident elsewhere left alone; unknown values leave fields as they are.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refreshMetricsFields, startMetricsFields } from '../../../src/manager/stats/metrics-fields.js';
import { vifRecord } from '../../helpers/records.js';
import { newVm, setup } from './harness.js';

test('metrics fields follow stats_latest, and only changes are written', async (t) => {
  const s = await setup(t);
  const { svc, db } = s.m.manager;
  const host = svc.hostRef();
  const pifMetrics = db.create('PIF_metrics', { io_read_kbs: 0, io_write_kbs: 0 });
  const pif = db.create('PIF', { host, device: 'ethstats0', metrics: pifMetrics });
  const { vm, uuid } = await newVm(s);
  const network = db.create('network', { name_label: 'stats-net', bridge: 'xenbr-mgrapi' });
  const vif = (await s.call('VIF.create', vifRecord(vm, network))) as string;
  await s.call('VM.start', vm, false, false);
  const idle = { time: 1, host: {}, vms: {}, srs: {} };
  s.stats.latest = {
    time: 1700000000,
    host: { memory_free_kib: 1000, pif_ethstats0_rx: 2048, pif_ethstats0_tx: null },
    vms: { [uuid]: { memory: 123456789, cpu0: 0.5, cpu1: null, vif_0_rx: 4096, vif_0_tx: 1024 } },
    srs: {},
  };
  await refreshMetricsFields(svc);
  const vmm = db.mustGet('VM_metrics', String(db.mustGet('VM', vm).metrics));
  assert.equal(vmm.memory_actual, 123456789);
  assert.deepEqual(vmm.VCPUs_utilisation, { 0: 0.5 });
  const hm = db.mustGet('host_metrics', String(db.mustGet('host', host).metrics));
  assert.equal(hm.memory_free, 1024000);
  assert.equal(db.mustGet('PIF_metrics', pifMetrics).io_read_kbs, 2);
  assert.equal(db.mustGet('PIF_metrics', pifMetrics).io_write_kbs, 0, 'unknown: left as it was');
  const vifm = db.mustGet('VIF_metrics', String(db.mustGet('VIF', vif).metrics));
  assert.deepEqual([vifm.io_read_kbs, vifm.io_write_kbs], [4, 1]);
  assert.ok(db.get('PIF', pif));

  // The same values again: no write, no event.
  const gen = db.currentGeneration;
  await refreshMetricsFields(svc);
  assert.equal(db.currentGeneration, gen);

  // A report for a VM that is not resident on that host changes nothing.
  await s.call('VM.hard_shutdown', vm);
  s.stats.latest = { ...s.stats.latest, host: {}, vms: { [uuid]: { memory: 5 } } };
  const gen2 = db.currentGeneration;
  await refreshMetricsFields(svc);
  assert.equal(db.currentGeneration, gen2);

  // The periodic refresh polls every live host until stopped.
  s.stats.latest = idle;
  s.stats.calls = [];
  const loop = startMetricsFields(svc, 20);
  await new Promise((r) => setTimeout(r, 120));
  loop.stop();
  const polls = s.stats.calls.filter(([n]) => n === 'latest').length;
  assert.ok(polls >= 2, `polled ${polls} times`);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(s.stats.calls.filter(([n]) => n === 'latest').length, polls, 'stopped');
});
