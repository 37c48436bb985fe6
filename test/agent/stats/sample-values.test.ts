// The samplers' values and their state between cycles, over fixtures and fake VMs/SRs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createSampler } from '../../../src/agent/stats/sample-all.js';
import { hostValues, PifClassifier } from '../../../src/agent/stats/sample-host.js';
import { parseMeminfo, parseNetDev, parseProcStat } from '../../../src/agent/stats/sample-parse.js';
import { isUnder, SrSampler } from '../../../src/agent/stats/sample-sr.js';
import { type VmView, vmValues } from '../../../src/agent/stats/sample-vm.js';
import { AttachedSrs, volumeDirOf } from '../../../src/agent/storage/attached.js';
import { storageProcedures } from '../../../src/agent/storage/rpc.js';
import type { SampledValue } from '../../../src/shared/rrd/types.js';
import { tempDir } from '../../helpers/tmp.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const json = (name: string) => JSON.parse(fixture(name));
const byName = (vs: SampledValue[]) => new Map(vs.map((v) => [v.spec.name, v.value]));

test('host values: cpu idle seconds, average, memory, PIFs with bonds out of the aggregate', () => {
  const stat = parseProcStat(fixture('proc-stat.txt'));
  const links = parseNetDev(fixture('proc-net-dev.txt'));
  const v = byName(
    hostValues({
      stat: { ...stat, procsRunning: 3 },
      meminfo: parseMeminfo(fixture('proc-meminfo.txt')),
      loadavg: 0.5,
      pifs: new Map([
        ['eth0', links.get('eth0')!],
        ['bond0', { rxBytes: 7, txBytes: 9, rxErrors: 0, txErrors: 0 }],
      ]),
      bonds: new Set(['bond0']),
      runningVcpus: 2,
      runningVms: 4,
    }),
  );
  const n = stat.idleSeconds.length;
  assert.equal(v.get('cpu0'), stat.idleSeconds[0]);
  assert.equal(v.get('cpu_avg'), stat.idleSeconds.reduce((a, b) => a + b) / n);
  assert.equal(v.get('hostload'), 2 / n, 'runnable threads but the reader, per CPU');
  assert.equal(v.get('running_vcpus'), 2);
  assert.equal(v.get('running_domains'), 5, 'the host counts as dom0');
  assert.equal(v.get('memory_total_kib'), parseMeminfo(fixture('proc-meminfo.txt')).MemTotal);
  assert.equal(v.get('memory_free_kib'), parseMeminfo(fixture('proc-meminfo.txt')).MemAvailable);
  assert.equal(v.get('pif_eth0_rx'), links.get('eth0')!.rxBytes);
  assert.equal(v.get('pif_bond0_tx'), 9);
  assert.equal(v.get('pif_aggr_rx'), links.get('eth0')!.rxBytes, 'bond members are counted once');
  assert.equal(v.get('loadavg'), 0.5);
});

const view = (over: Partial<VmView> = {}): VmView => ({
  uuid: '11111111-2222-3333-4444-555555555555',
  pid: 4242,
  paused: false,
  memoryBytes: 256 << 20,
  balloon: true,
  disks: [{ device: 'xvda', path: '/srv/sr/a/disk.qcow2' }],
  nics: [{ device: '0', tap: 'tap1' }],
  qmp: async () => undefined,
  ...over,
});

test('VM values: vCPU seconds, domain usage, swapped VIF counters, memory fallbacks', () => {
  const values = vmValues({
    view: view({ balloonTarget: 128 << 20 }),
    vcpus: [
      { state: 'R', cpuSeconds: 3 },
      { state: 'S', cpuSeconds: 1 },
    ],
    balloonActual: 200 << 20,
    disks: new Map(),
    diskDeltas: new Map(),
    dt: 0,
    taps: new Map([['tap1', { rxBytes: 10, txBytes: 20, rxErrors: 1, txErrors: 2 }]]),
  });
  const v = byName(values);
  assert.equal(v.get('cpu0'), 3);
  assert.equal(v.get('cpu1'), 1);
  assert.equal(v.get('cpu_usage'), 2);
  assert.equal(v.get('memory'), 200 << 20);
  assert.equal(v.get('memory_target'), 128 << 20);
  assert.equal(v.get('vif_0_rx'), 20, "the TAP's transmit is the guest's receive");
  assert.equal(v.get('vif_0_tx'), 10);
  assert.equal(v.get('vif_0_rx_errors'), 2);
  assert.ok(values.every((x) => x.spec.description && x.spec.units));
  const noBalloon = byName(
    vmValues({
      view: view({ balloon: false }),
      vcpus: [],
      disks: new Map(),
      diskDeltas: new Map(),
      dt: 0,
      taps: new Map(),
    }),
  );
  assert.equal(noBalloon.get('memory'), 256 << 20);
  assert.equal(noBalloon.get('memory_target'), 256 << 20);
  assert.equal(noBalloon.has('cpu_usage'), false);
});

/** A fake VM answering QMP with the captured answers, its disk counters moved by `io`. */
function fakeVm(io: { wr: number }, over: Partial<VmView> = {}): VmView {
  return view({
    qmp: async (cmd) => {
      if (cmd === 'query-cpus-fast') return json('qmp-query-cpus-fast.json');
      if (cmd === 'query-balloon') return json('qmp-query-balloon.json');
      const bs = json('qmp-query-blockstats.json');
      bs[0].stats.wr_bytes = io.wr;
      bs[0].stats.wr_operations = io.wr / 4096;
      bs[0].stats.wr_total_time_ns = io.wr * 10;
      return bs;
    },
    ...over,
  });
}

function fakeProc(extra: Record<string, string> = {}) {
  const files: Record<string, string> = {
    '/proc/stat': fixture('proc-stat.txt'),
    '/proc/meminfo': fixture('proc-meminfo.txt'),
    '/proc/loadavg': fixture('proc-loadavg.txt'),
    '/proc/net/dev': `${fixture('proc-net-dev.txt')}  tap1: 100 1 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n`,
    ...extra,
  };
  const cpus = json('qmp-query-cpus-fast.json') as { 'thread-id': number }[];
  for (const c of cpus) files[`/proc/4242/task/${c['thread-id']}/stat`] = fixture('task-stat-vcpu.txt');
  return (p: string) => {
    if (!(p in files)) throw new Error(`ENOENT ${p}`);
    return files[p];
  };
}

test('createSampler: every owner filled, deltas from the second cycle, SR sums', async () => {
  let t = 1000;
  const io = { wr: 4096 * 10 };
  const statsAsked: string[] = [];
  const sampler = createSampler({
    now: () => t,
    vms: () => [fakeVm(io)],
    srs: () => [
      {
        uuid: 'abcdef01-0000-0000-0000-000000000000',
        volumeDir: '/srv/sr/a',
        stats: async () => {
          statsAsked.push('a');
          return { physicalSize: 1000, physicalUtilisation: 400, free: 600 };
        },
      },
    ],
    readFile: fakeProc(),
    classifyPifs: async () => ({ pifs: new Set(['eth0']), bonds: new Set() }),
  });
  const s1 = await sampler.sample();
  assert.equal(s1.time, 1000);
  const h1 = byName(s1.host);
  assert.ok(h1.has('cpu0') && h1.has('cpu_avg') && h1.has('pif_eth0_rx'));
  assert.equal(h1.has('pif_lo_rx'), false, 'only PIFs');
  assert.equal(h1.get('write_abcdef01'), 0);
  assert.equal(h1.has('iops_write_abcdef01'), false, 'no change known at the first cycle');
  const v1 = byName(s1.vms.get(view().uuid)!);
  assert.equal(v1.get('vbd_xvda_write'), 4096 * 10);
  assert.equal(v1.get('vif_0_rx'), 300);
  assert.equal(v1.get('memory'), json('qmp-query-balloon.json').actual);
  assert.equal(v1.has('vbd_xvda_iops_write'), false);
  assert.equal(v1.has('vbd_hdc_read'), false, 'only the disks of the spec');
  assert.deepEqual(
    byName(s1.srs.get('abcdef01-0000-0000-0000-000000000000')!),
    new Map([
      ['size', 1000],
      ['physical_utilisation', 400],
    ]),
  );

  t = 1005;
  io.wr += 4096 * 50;
  const s2 = await sampler.sample();
  const v2 = byName(s2.vms.get(view().uuid)!);
  assert.equal(v2.get('vbd_xvda_iops_write'), 50);
  assert.equal(v2.get('vbd_xvda_write_latency'), (4096 * 50 * 10) / 50 / 1000);
  assert.equal(v2.get('vbd_xvda_avgqu_sz'), (4096 * 50 * 10) / 1e9 / 5);
  const h2 = byName(s2.host);
  assert.equal(h2.get('write_abcdef01'), 4096 * 50, 'the SR counter accumulates changes only');
  assert.equal(h2.get('iops_write_abcdef01'), 50);
  assert.equal(h2.get('io_throughput_write_abcdef01'), (4096 * 50) / (1 << 20));
  assert.deepEqual(statsAsked, ['a'], 'SR stats are not asked every cycle');
  for (const [owner, list] of [
    ['host', s2.host],
    ['vm', s2.vms.get(view().uuid)!],
  ] as const)
    for (const x of list) assert.ok(Number.isFinite(x.value), `${owner} ${x.spec.name}`);
});

test('a VM whose QMP hangs is left out after the timeout; the others are sampled', async () => {
  const hanging = view({ uuid: 'deadbeef-0000-0000-0000-000000000000', qmp: () => new Promise(() => {}) });
  const failing = view({
    uuid: 'feedface-0000-0000-0000-000000000000',
    qmp: async () => {
      throw new Error('QMP connection closed');
    },
  });
  const sampler = createSampler({
    vms: () => [hanging, fakeVm({ wr: 0 }), failing],
    readFile: fakeProc(),
    classifyPifs: async () => ({ pifs: new Set(), bonds: new Set() }),
    qmpTimeoutMs: 200,
  });
  const t0 = Date.now();
  const s = await sampler.sample();
  assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  assert.deepEqual([...s.vms.keys()], [view().uuid]);
  assert.equal(byName(s.host).get('running_domains'), 4, 'still running: counted');
});

test('unreadable kernel files and a failing VM list leave figures out, never throw', async () => {
  const sampler = createSampler({
    vms: () => {
      throw new Error('boom');
    },
    readFile: () => {
      throw new Error('EACCES');
    },
  });
  const s = await sampler.sample();
  assert.equal(s.vms.size, 0);
  assert.deepEqual(s.host.map((v) => v.spec.name).sort(), [
    'pif_aggr_rx',
    'pif_aggr_tx',
    'running_domains',
    'running_vcpus',
  ]);
});

test('SR sampler: stats refreshed once stale, a slow driver does not hold the cycle', async () => {
  const sr = new SrSampler(60, 50);
  let calls = 0;
  const slow = {
    uuid: '0123abcd-0000-0000-0000-000000000000',
    stats: () => {
      calls++;
      return new Promise<never>(() => {});
    },
  };
  const t0 = Date.now();
  assert.equal((await sr.sizes([slow], 0)).size, 0);
  assert.ok(Date.now() - t0 < 500);
  await sr.sizes([slow], 120);
  assert.equal(calls, 1, 'not asked again while the first ask is pending');
  assert.equal(isUnder('/a/b/c', '/a/b'), true);
  assert.equal(isUnder('/a/bc', '/a/b'), false);
  assert.equal(isUnder('/a/b/c', undefined), false);
});

test('attached SR volume directories follow volumePath', () => {
  const uuid = '0123abcd-0000-0000-0000-000000000000';
  assert.equal(volumeDirOf({ uuid, type: 'file', deviceConfig: { location: '/srv/x' } }, {}), '/srv/x');
  assert.equal(volumeDirOf({ uuid, type: 'lvm', deviceConfig: {} }, {}), `/dev/VG_XenStorage-${uuid}`);
  assert.equal(volumeDirOf({ uuid, type: 'nfs', deviceConfig: {} }, { srMountDir: '/m' }), `/m/${uuid}`);
  assert.equal(volumeDirOf({ uuid, type: 'weird', deviceConfig: {} }, {}), undefined);
});

test('PIF classifier asks ip only when the interface set changes', async () => {
  let asked = 0;
  const c = new PifClassifier(['veth'], async () => {
    asked++;
    return [
      {
        ifname: 'eth0',
        ifindex: 2,
        mtu: 1500,
        address: 'aa:bb:cc:dd:ee:ff',
        flags: [],
        link_type: 'ether',
        parentbus: 'pci',
      },
      {
        ifname: 'v0',
        ifindex: 3,
        mtu: 1500,
        address: 'aa:bb:cc:dd:ee:01',
        flags: [],
        link_type: 'ether',
        linkinfo: { info_kind: 'veth' },
      },
      {
        ifname: 'eth0.5',
        ifindex: 4,
        mtu: 1500,
        address: 'aa:bb:cc:dd:ee:ff',
        flags: [],
        link_type: 'ether',
        linkinfo: { info_kind: 'vlan' },
      },
      {
        ifname: 'bond0',
        ifindex: 5,
        mtu: 1500,
        address: 'aa:bb:cc:dd:ee:02',
        flags: [],
        link_type: 'ether',
        linkinfo: { info_kind: 'bond' },
      },
      {
        ifname: 'tap0',
        ifindex: 6,
        mtu: 1500,
        address: 'aa:bb:cc:dd:ee:03',
        flags: [],
        link_type: 'ether',
        linkinfo: { info_kind: 'tun' },
      },
    ];
  });
  const r = await c.classify(['eth0', 'v0', 'eth0.5', 'bond0', 'tap0']);
  assert.deepEqual([...r.pifs].sort(), ['bond0', 'eth0', 'v0']);
  assert.deepEqual([...r.bonds], ['bond0']);
  await c.classify(['tap0', 'bond0', 'eth0.5', 'v0', 'eth0']);
  assert.equal(asked, 1);
  await c.classify(['eth0']);
  assert.equal(asked, 2);
});

test('the storage procedures keep the attached-SR registry', async (t) => {
  const dir = tempDir(t, 'berth-sampler-srs-');
  const attached = new AttachedSrs();
  const table = storageProcedures({ allowedRoots: [dir], stateDir: join(dir, 'state') }, attached);
  const sr = {
    uuid: '0123abcd-0000-4000-8000-000000000000',
    type: 'file',
    deviceConfig: { location: join(dir, 'a') },
  };
  await table.sr_create(sr);
  assert.deepEqual(attached.list(), [], 'created is not attached');
  await table.sr_attach(sr);
  assert.deepEqual(attached.list(), [{ config: sr, volumeDir: join(dir, 'a') }]);
  await table.sr_detach(sr);
  assert.deepEqual(attached.list(), []);
  await table.sr_stats(sr);
  assert.equal(attached.list().length, 1, 'asked for stats: attached here');
  await assert.rejects(async () =>
    table.sr_attach({ ...sr, uuid: 'other', deviceConfig: { location: '/etc' } }),
  );
  assert.equal(attached.list().length, 1, 'a failed attach records nothing');
  await table.sr_destroy(sr);
  assert.deepEqual(attached.list(), []);
});

test('vCPU threads are asked of QMP at the first reading and once a minute after', async () => {
  let t = 0;
  const asked: string[] = [];
  const vm = fakeVm({ wr: 0 });
  const counting: VmView = {
    ...vm,
    qmp: (cmd, ms) => {
      asked.push(cmd);
      return vm.qmp(cmd, ms);
    },
  };
  const sampler = createSampler({
    now: () => t,
    vms: () => [counting],
    readFile: fakeProc(),
    classifyPifs: async () => ({ pifs: new Set(), bonds: new Set() }),
  });
  for (t = 0; t <= 65; t += 5) await sampler.sample();
  assert.equal(asked.filter((c) => c === 'query-cpus-fast').length, 2);
  assert.equal(asked.filter((c) => c === 'query-blockstats').length, 14, 'one per cycle');
});
