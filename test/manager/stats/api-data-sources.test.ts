// VM/host/SR data-source messages (src/manager/api/data-sources.ts) and the xe commands over them
// (src/manager/cli/commands/data-sources.ts), against a stand-in agent whose statistics record the
// calls: routing to the agent that holds the RRD, the contract's nulls back to NaN/±Infinity on the
// wire, xapi's errors, and the commands' output layout (golden files).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkDataSourceName, toDataSourceRecord } from '../../../src/manager/api/data-sources.js';
import { dataSourceTable, ocamlFixed } from '../../../src/manager/cli/commands/data-sources.js';
import { assertGolden } from '../../helpers/golden.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { xe } from '../cli/harness.js';
import { newVm, setup } from './harness.js';
import { HOST_SOURCES } from './recording-stats.js';

const GOLDEN = join(import.meta.dirname, 'golden');

test('pure: nulls become -inf/inf/NaN; OCaml %f formatting; names checked', () => {
  const r = toDataSourceRecord(HOST_SOURCES[2]);
  assert.equal(r.min, Number.NEGATIVE_INFINITY);
  assert.equal(r.max, Number.POSITIVE_INFINITY);
  assert.ok(Number.isNaN(r.value));
  assert.equal(r.name_label, 'pif_eth0_rx_errors');
  assert.equal(ocamlFixed(0.5, 3), '0.500');
  assert.equal(ocamlFixed(Number.POSITIVE_INFINITY, 3), 'inf');
  assert.equal(ocamlFixed(Number.NEGATIVE_INFINITY, 3), '-inf');
  assert.equal(ocamlFixed(Number.NaN, 6), 'nan');
  assert.equal(ocamlFixed(0.012345, 6), '0.012345');
  const table = dataSourceTable(HOST_SOURCES.map(toDataSourceRecord));
  assert.deepEqual(
    table.map((r) => r[0][1]),
    ['cpu0', 'memory_free_kib', 'pif_eth0_rx_errors'],
  );
  for (const ok of [
    'cpu0',
    'vbd_xvda_read',
    'CPU0-avg-freq',
    'read_latency_1a2b3c4d',
    'a+b',
    'a'.repeat(255),
  ])
    assert.equal(checkDataSourceName(ok), ok);
  for (const bad of ['', 'a b', 'x\n', 'é', 'a'.repeat(256)])
    assert.throws(() => checkDataSourceName(bad), /INVALID_VALUE/);
});

test('data-source messages: routing, values, xapi errors', async (t) => {
  const s = await setup(t);
  const { svc } = s.m.manager;
  const host = svc.hostRef();
  const hostUuid = String(svc.db.mustGet('host', host).uuid);

  // host.get_data_sources over XML-RPC: sorted, unbounded min/max as inf, unknown value nan.
  const xml = await fetch(`${s.m.httpUrl}/`, {
    method: 'POST',
    headers: { 'content-type': 'text/xml' },
    body: `<?xml version="1.0"?><methodCall><methodName>host.get_data_sources</methodName><params><param><value>${s.session}</value></param><param><value>${host}</value></param></params></methodCall>`,
  }).then((r) => r.text());
  const names = [...xml.matchAll(/<name>name_label<\/name><value>([^<]*)<\/value>/g)].map((m) => m[1]);
  assert.deepEqual(names, ['cpu0', 'memory_free_kib', 'pif_eth0_rx_errors']);
  assert.match(xml, /<name>max<\/name><value><double>inf<\/double><\/value>/);
  assert.match(xml, /<name>min<\/name><value><double>-inf<\/double><\/value>/);
  assert.match(xml, /<name>value<\/name><value><double>nan<\/double><\/value>/);
  assert.deepEqual(s.stats.calls.at(-1), ['data_sources', 'host', hostUuid]);

  assert.equal(await s.call('host.query_data_source', host, 'cpu0'), 0.012345);
  await s.call('host.record_data_source', host, 'pif_eth0_rx_errors');
  await s.call('host.forget_data_source_archives', host, 'cpu0');
  assert.deepEqual(s.stats.calls.slice(-3), [
    ['query', 'host', hostUuid, 'cpu0'],
    ['record', 'host', hostUuid, 'pif_eth0_rx_errors'],
    ['forget', 'host', hostUuid, 'cpu0'],
  ]);
  assert.deepEqual(await s.failure('host.query_data_source', host, 'no_such_source'), [
    'INVALID_VALUE',
    'data_source',
    'no_such_source',
  ]);
  const before = s.stats.calls.length;
  assert.deepEqual(await s.failure('host.record_data_source', host, 'bad name'), [
    'INVALID_VALUE',
    'data_source',
    'bad name',
  ]);
  assert.equal(s.stats.calls.length, before, 'a malformed name never reaches the agent');

  // A member whose agent is away: HOST_OFFLINE.
  const b = addTestHost(svc.db, 'stats-offline-host', { address: '192.0.2.9' });
  assert.deepEqual(await s.failure('host.get_data_sources', b), ['HOST_OFFLINE', b]);
  assert.deepEqual(
    (await s.failure('host.query_data_source', 'OpaqueRef:nope', 'cpu0'))[0],
    'HANDLE_INVALID',
  );

  // VMs: only a running VM has data sources (xapi's data_source_op).
  const { vm, uuid } = await newVm(s);
  for (const [msg, ...args] of [
    ['VM.get_data_sources'],
    ['VM.record_data_source', 'memory'],
    ['VM.forget_data_source_archives', 'memory'],
  ])
    assert.deepEqual(await s.failure(msg, vm, ...args), ['VM_BAD_POWER_STATE', vm, 'running', 'halted']);
  // query_data_source is not a data_source_op: xapi allows it Running or Paused.
  assert.deepEqual(await s.failure('VM.query_data_source', vm, 'memory'), [
    'VM_BAD_POWER_STATE',
    vm,
    'running;paused',
    'halted',
  ]);
  await s.call('VM.start', vm, false, false);
  assert.deepEqual(await s.call('VM.get_data_sources', vm), [], 'no RRD yet on the agent');
  s.stats.held.set(`vm:${uuid}`, '<rrd/>');
  const vmDss = (await s.call('VM.get_data_sources', vm)) as { name_label: string; max: unknown }[];
  assert.deepEqual(
    vmDss.map((d) => d.name_label),
    ['cpu0', 'memory'],
  );
  assert.equal(await s.call('VM.query_data_source', vm, 'memory'), 268435456);
  assert.deepEqual(await s.failure('VM.query_data_source', vm, 'cpu7'), [
    'INVALID_VALUE',
    'data_source',
    'cpu7',
  ]);
  assert.deepEqual(s.stats.calls.at(-1), ['query', 'vm', uuid, 'cpu7']);
  // Paused: query answers; the data_source_op messages need Running.
  await s.call('VM.pause', vm);
  assert.equal(await s.call('VM.query_data_source', vm, 'memory'), 268435456);
  assert.deepEqual(await s.failure('VM.get_data_sources', vm), [
    'VM_BAD_POWER_STATE',
    vm,
    'running',
    'paused',
  ]);
  await s.call('VM.unpause', vm);

  // SRs: one attached nowhere has none; querying it is SR_NOT_ATTACHED.
  const type = String(
    [...svc.db.all('SR').values()].find((r) => r.type !== 'udev' && r.type !== 'iso')?.type,
  );
  const sr = (await s.call(
    'SR.introduce',
    crypto.randomUUID(),
    'stats-sr',
    '',
    type,
    '',
    false,
    {},
  )) as string;
  assert.deepEqual(await s.call('SR.get_data_sources', sr), []);
  assert.deepEqual(await s.failure('SR.query_data_source', sr, 'size'), ['SR_NOT_ATTACHED', sr]);
  await s.call('SR.forget_data_source_archives', sr, 'size');
});

test('xe *-data-source-* commands: output layout and errors', async (t) => {
  const s = await setup(t);
  const { svc } = s.m.manager;
  const hostUuid = String(svc.db.mustGet('host', svc.hostRef()).uuid);
  const list = await xe(s.m, ['host-data-source-list', `uuid=${hostUuid}`]);
  assert.equal(list.code, 0, list.stderr);
  assertGolden(join(GOLDEN, 'host-data-source-list.txt'), list.stdout);
  assert.deepEqual(await xe(s.m, ['host-data-source-query', 'data-source=cpu0']), {
    code: 0,
    stdout: '0.012345\n',
    stderr: '',
  });
  assert.equal((await xe(s.m, ['host-data-source-query', 'data-source=pif_eth0_rx_errors'])).stdout, 'nan\n');
  const rec = await xe(s.m, [
    'host-data-source-record',
    `host=${hostUuid}`,
    'data-source=pif_eth0_rx_errors',
  ]);
  assert.deepEqual(rec, { code: 0, stdout: '', stderr: '' });
  const forget = await xe(s.m, ['host-data-source-forget', 'data-source=cpu0']);
  assert.deepEqual(forget, { code: 0, stdout: '', stderr: '' });
  assert.deepEqual(s.stats.calls.slice(-2), [
    ['record', 'host', hostUuid, 'pif_eth0_rx_errors'],
    ['forget', 'host', hostUuid, 'cpu0'],
  ]);
  const unknown = await xe(s.m, ['host-data-source-query', 'data-source=nope']);
  assert.equal(unknown.code, 1);
  assertGolden(join(GOLDEN, 'host-data-source-query-unknown.txt'), unknown.stderr);
  const missing = await xe(s.m, ['host-data-source-query']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /data-source/);

  const { vm, uuid } = await newVm(s);
  const halted = await xe(s.m, ['vm-data-source-list', `uuid=${uuid}`]);
  assert.equal(halted.code, 1);
  assertGolden(join(GOLDEN, 'vm-data-source-list-halted.txt'), halted.stderr.replaceAll(uuid, '<uuid>'));
  await s.call('VM.start', vm, false, false);
  s.stats.held.set(`vm:${uuid}`, '<rrd/>');
  const vmList = await xe(s.m, ['vm-data-source-list', 'vm=stats-test']);
  assert.equal(vmList.code, 0, vmList.stderr);
  assertGolden(join(GOLDEN, 'vm-data-source-list.txt'), vmList.stdout);
  assert.equal(
    (await xe(s.m, ['vm-data-source-query', `vm=${uuid}`, 'data-source=cpu0'])).stdout,
    '0.250000\n',
  );
  assert.equal(
    (await xe(s.m, ['vm-data-source-list', 'vm=no-such-vm'])).stderr,
    'Error: No matching VMs found\n',
  );
  assert.equal(
    (await xe(s.m, ['sr-data-source-list', 'uuid=no-such-sr'])).stderr,
    'Error: No matching hosts found\n',
  );
});
