// The agent's RRD store fed by a deterministic sampler: which sources are recorded, what a VM
// that stopped keeps, record/forget/push/take, and what get_data_sources and stats_latest show.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostSample } from '../../../src/agent/stats/sample.js';
import { StatsStore } from '../../../src/agent/stats/store.js';
import { dataSourceSpec } from '../../../src/shared/rrd/catalog.js';
import { dumpXml, parseDumpXml } from '../../../src/shared/rrd/dump.js';
import { dsDefs, lastValue } from '../../../src/shared/rrd/rrd.js';
import { ScriptedSampler, T0, valueAt } from './scripted-sampler.js';

const VM = '11111111-2222-4333-8444-555555555555';
const VM2 = '21111111-2222-4333-8444-555555555555';
const SR = '31111111-2222-4333-8444-555555555555';

async function fed(
  cycles: number,
  s = new ScriptedSampler({ vms: [VM], srs: [SR] }),
  store = new StatsStore(),
) {
  for (let i = 0; i < cycles; i++) store.ingest(await s.sample());
  return { store, s };
}

const names = (store: StatsStore, owner: 'host' | 'vm' | 'sr', uuid = '') =>
  dsDefs(store.get(owner, uuid)!.rrd)
    .map((d) => d.name)
    .sort();

test('new owners get RRDs of their standard sources; the host has MIN/MAX, VMs only if configured', async () => {
  const { store } = await fed(3);
  assert.deepEqual(names(store, 'host'), ['cpu0', 'memory_total_kib']);
  assert.deepEqual(names(store, 'vm', VM), ['cpu0', 'memory']);
  assert.deepEqual(names(store, 'sr', SR), ['physical_utilisation', 'size']);
  // The latest reading (index 2) is what the RRDs hold now.
  assert.equal(lastValue(store.host!.rrd, 'cpu0'), valueAt('host', 'cpu0', 2));
  assert.equal(lastValue(store.vms.get(VM)!.rrd, 'memory'), valueAt('vm', 'memory', 2, VM));
  assert.match(dumpXml(store.host!.rrd), /<cf>MIN<\/cf>/);
  assert.doesNotMatch(dumpXml(store.vms.get(VM)!.rrd), /<cf>MIN<\/cf>/);

  const s2 = new ScriptedSampler({ vms: [VM2] });
  const st2 = new StatsStore();
  st2.settings = { createMinMaxInNewVmRrds: true };
  st2.ingest(await s2.sample());
  assert.match(dumpXml(st2.vms.get(VM2)!.rrd), /<cf>MIN<\/cf>/);
  // The first reading is recorded, not only taken as a baseline.
  assert.equal(lastValue(st2.vms.get(VM2)!.rrd, 'cpu0'), valueAt('vm', 'cpu0', 0, VM2));
});

test('a stopped VM keeps its RRD, no longer updated, until taken', async () => {
  const { store, s } = await fed(3);
  s.vms.delete(VM);
  const before = dumpXml(store.vms.get(VM)!.rrd);
  store.ingest(await s.sample());
  store.ingest(await s.sample());
  assert.equal(dumpXml(store.vms.get(VM)!.rrd), before);
  assert.deepEqual(store.latest().vms, {});
  // Not in /rrd_updates by default, still when asked for by uuid.
  const q = { host: false, hostUuid: VM2, srUuids: [] };
  assert.deepEqual(store.updateSources(q), []);
  assert.deepEqual(
    store.updateSources({ ...q, vmUuids: [VM, VM2] }).map((x) => x.uuid),
    [VM],
  );
  const taken = store.take('vm', VM, true);
  assert.ok(taken);
  assert.equal(store.vms.has(VM), false);
  assert.equal(store.take('vm', VM, true), undefined);
});

test('record_data_source adds an offered optional source; forget drops an archive', async () => {
  const { store, s } = await fed(2);
  const ds = () => store.dataSources('vm', VM)!;
  const opt = () => ds().find((d) => d.name === 'memory_internal_free')!;
  assert.deepEqual(
    ds().map((d) => [d.name, d.enabled, d.standard]),
    [
      ['cpu0', true, true],
      ['memory', true, true],
      ['memory_internal_free', false, false],
    ],
  );
  assert.equal(opt().value, null);
  assert.equal(opt().units, 'KiB');
  assert.throws(() => store.query('vm', VM, 'memory_internal_free'), /INVALID_VALUE/);

  store.record('vm', VM, 'memory_internal_free');
  store.record('vm', VM, 'memory_internal_free'); // idempotent
  store.ingest(await s.sample());
  assert.equal(opt().enabled, true);
  assert.equal(store.query('vm', VM, 'memory_internal_free'), valueAt('vm', 'memory_internal_free', 2, VM));
  assert.throws(
    () => store.record('vm', VM, 'no_such_source'),
    (e: Error) => /INVALID_VALUE/.test(e.message) || (e as { code?: string }).code === 'INVALID_VALUE',
  );

  // A standard source forgotten starts afresh next cycle (its history gone); an optional one stays out.
  store.forget('vm', VM, 'cpu0');
  store.forget('vm', VM, 'memory_internal_free');
  assert.deepEqual(names(store, 'vm', VM), ['memory']);
  store.ingest(await s.sample());
  assert.deepEqual(names(store, 'vm', VM), ['cpu0', 'memory']);
  assert.throws(() => store.forget('vm', VM, 'no_such_source'));
  assert.throws(() => store.record('vm', VM2, 'cpu0')); // no RRD for that VM here
});

test('a source archived but no longer sampled shows as xapi does', async () => {
  const { store, s } = await fed(2);
  s.hidden.add('memory_total_kib');
  store.ingest(await s.sample());
  const d = store.dataSources('host', '')!.find((x) => x.name === 'memory_total_kib')!;
  assert.equal(d.description, 'description not available');
  assert.equal(d.units, 'unknown');
  assert.equal(d.enabled, false);
  assert.equal(d.standard, false);
  assert.equal(d.min, 0);
  assert.equal(d.max, null); // +Infinity cannot cross the JSON RPC
  assert.equal(store.dataSources('vm', VM2), null);
});

test('a pushed RRD replaces the held one and is continued by the next cycle', async () => {
  const { store: a } = await fed(3);
  const dump = dumpXml(a.vms.get(VM)!.rrd, { internal: true });
  const s = new ScriptedSampler({ vms: [VM], time: T0 + 100 });
  s.i = 50;
  const { store: b } = await fed(1, s);
  b.put('vm', VM, parseDumpXml(dump));
  assert.equal(lastValue(b.vms.get(VM)!.rrd, 'cpu0'), valueAt('vm', 'cpu0', 2, VM));
  b.ingest(await s.sample());
  assert.equal(lastValue(b.vms.get(VM)!.rrd, 'cpu0'), valueAt('vm', 'cpu0', 51, VM));
});

test('stats_latest: recorded sources of the host, running VMs and attached SRs', async () => {
  const { store } = await fed(2);
  const l = store.latest();
  assert.equal(l.time, T0 + 5);
  assert.deepEqual(l.host, {
    cpu0: valueAt('host', 'cpu0', 1),
    memory_total_kib: valueAt('host', 'memory_total_kib', 1),
  });
  assert.deepEqual(Object.keys(l.vms), [VM]);
  assert.deepEqual(Object.keys(l.srs), [SR]);
  assert.equal(l.srs[SR].size, valueAt('sr', 'size', 1, SR));
});

test('a host RRD reloaded from its dump keeps recording busy time (inverse re-applied)', async () => {
  const spec = dataSourceSpec('host', 'cpu0')!;
  assert.equal(spec.transform, 'inverse');
  // Idle seconds grow 4 per 5 s step: 80 % idle, so the RRD must hold 0.2 (busy).
  const sample = (i: number): HostSample => ({
    time: T0 + 5 * i,
    host: [{ spec, value: 4 * i }],
    vms: new Map(),
    srs: new Map(),
  });
  const first = new StatsStore();
  for (let i = 0; i < 4; i++) first.ingest(sample(i));
  assert.ok(Math.abs(lastValue(first.host!.rrd, 'cpu0')! - 0.2) < 1e-9);
  const again = new StatsStore();
  again.put('host', '', parseDumpXml(dumpXml(first.host!.rrd, { internal: true })));
  for (let i = 4; i < 7; i++) again.ingest(sample(i));
  assert.ok(
    Math.abs(lastValue(again.host!.rrd, 'cpu0')! - 0.2) < 1e-9,
    `${lastValue(again.host!.rrd, 'cpu0')}`,
  );
});

/** Captures the store's "RRD update failed" lines for the rest of the test. */
function failureLines(t: import('node:test').TestContext): string[] {
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr) as (
    c: string | Uint8Array,
    ...r: unknown[]
  ) => boolean;
  t.mock.method(process.stderr, 'write', (chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (!String(chunk).includes('RRD update failed')) return write(chunk, ...rest);
    lines.push(String(chunk));
    return true;
  });
  return lines;
}

test('an update that keeps failing is logged once per RRD until one succeeds again', async (t) => {
  const s = new ScriptedSampler({ vms: [VM] });
  const { store } = await fed(2, s);
  const lines = failureLines(t);
  // A reading with a time no RRD accepts (updateRrd throws RangeError), five cycles running.
  for (let i = 0; i < 5; i++) store.ingest({ ...(await s.sample()), time: Number.NaN });
  assert.equal(lines.length, 2, lines.join('')); // the host's and the VM's, once each
  assert.ok(lines.some((l) => l.includes(VM)));
  store.ingest(await s.sample());
  assert.equal(lastValue(store.vms.get(VM)!.rrd, 'cpu0'), valueAt('vm', 'cpu0', s.i - 1, VM));
  store.ingest({ ...(await s.sample()), time: Number.NaN });
  assert.equal(lines.length, 4, 'failing again after a success is said again');
});

test('an RRD pushed from the future is updated at once (xapi: a clock going backwards)', async (t) => {
  // The pushed RRD was last updated an hour after this host's clock (a source host ahead in time).
  // updateRrd does not throw on it: as xapi's rrd.ml, it takes the interval as 5 s and goes on
  // from this host's time.
  const { store: src } = await fed(2, new ScriptedSampler({ vms: [VM], time: T0 + 3600 }));
  const s = new ScriptedSampler({ vms: [VM], time: T0 });
  const { store } = await fed(1, s);
  store.put('vm', VM, parseDumpXml(dumpXml(src.vms.get(VM)!.rrd, { internal: true })));
  const lines = failureLines(t);
  for (let i = 0; i < 3; i++) {
    store.ingest(await s.sample());
    assert.equal(lastValue(store.vms.get(VM)!.rrd, 'cpu0'), valueAt('vm', 'cpu0', s.i - 1, VM));
  }
  assert.equal(store.vms.get(VM)!.rrd.lastUpdated, s.time - 5);
  assert.deepEqual(lines, []);
});

test('a take landing while a reading is under way is not undone by that reading', async () => {
  const s = new ScriptedSampler({ vms: [VM], srs: [SR] });
  const { store } = await fed(3, s);
  // The reading lists the VM and SR (read before the take), the manager takes both meanwhile.
  const reading = s.sample();
  assert.ok(store.take('vm', VM, true));
  assert.ok(store.take('sr', SR, true));
  store.ingest(await reading);
  assert.equal(store.vms.has(VM), false, 'no fresh RRD for the VM just taken');
  assert.equal(store.srs.has(SR), false);
  assert.deepEqual(store.latest().vms, {});
  // A later reading that still finds the VM (it runs here again): it gets a fresh RRD.
  store.ingest(await s.sample());
  assert.equal(lastValue(store.vms.get(VM)!.rrd, 'cpu0'), valueAt('vm', 'cpu0', s.i - 1, VM));
  assert.ok(store.present('vm', VM));
});

test('a take then a push before the next reading: the pushed RRD is fed', async () => {
  const s = new ScriptedSampler({ vms: [VM] });
  const { store } = await fed(3, s);
  const dump = dumpXml(store.take('vm', VM, true)!, { internal: true });
  store.put('vm', VM, parseDumpXml(dump));
  store.ingest(await s.sample());
  assert.equal(lastValue(store.vms.get(VM)!.rrd, 'cpu0'), valueAt('vm', 'cpu0', 3, VM));
});
