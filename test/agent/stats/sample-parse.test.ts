// The samplers' pure parsers against files captured on a real host (fixtures/: /proc files of
// this machine; QMP answers and a vCPU thread's stat from a real QEMU 7.2).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  blockDevice,
  diffIo,
  ioValues,
  parseBlockstats,
  ZERO_IO,
} from '../../../src/agent/stats/sample-io.js';
import {
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseTaskStat,
} from '../../../src/agent/stats/sample-parse.js';
import { parseBalloon, parseVcpuThreads } from '../../../src/agent/stats/sample-vm.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const json = (name: string) => JSON.parse(fixture(name));

test('/proc/stat: idle + iowait seconds per CPU, procs_running', () => {
  const s = parseProcStat(fixture('proc-stat.txt'));
  const text = fixture('proc-stat.txt');
  assert.equal(s.idleSeconds.length, (text.match(/^cpu\d+ /gm) ?? []).length);
  const cpu0 = text
    .split('\n')
    .find((l) => l.startsWith('cpu0 '))!
    .split(/\s+/)
    .map(Number);
  assert.equal(s.idleSeconds[0], (cpu0[4] + cpu0[5]) / 100);
  assert.ok(Number.isInteger(s.procsRunning) && s.procsRunning! >= 1);
  // One second later: every CPU was idle at most that long (in USER_HZ ticks, with slack).
  const later = parseProcStat(fixture('proc-stat-later.txt'));
  for (let i = 0; i < s.idleSeconds.length; i++) {
    const d = later.idleSeconds[i] - s.idleSeconds[i];
    assert.ok(d >= 0 && d <= 1.5, `cpu${i} idle Δ ${d}`);
  }
  assert.deepEqual(parseProcStat('garbage\ncpu0 x y\n'), { idleSeconds: [], procsRunning: undefined });
});

test('/proc/meminfo and /proc/loadavg', () => {
  const m = parseMeminfo(fixture('proc-meminfo.txt'));
  assert.ok(m.MemTotal > 0);
  assert.ok(m.MemAvailable > 0 && m.MemAvailable <= m.MemTotal);
  assert.equal(m.HugePages_Total !== undefined, true, 'fields without kB too');
  const l = parseLoadavg(fixture('proc-loadavg.txt'));
  assert.equal(l, Number(fixture('proc-loadavg.txt').split(' ')[0]));
  assert.equal(parseLoadavg(''), undefined);
});

test('/proc/net/dev: bytes and errors of every interface', () => {
  const d = parseNetDev(fixture('proc-net-dev.txt'));
  const lo = d.get('lo')!;
  assert.ok(lo.rxBytes > 0);
  assert.equal(lo.rxBytes, lo.txBytes, 'loopback sends what it receives');
  const eth0 = fixture('proc-net-dev.txt')
    .split('\n')
    .find((l) => l.trim().startsWith('eth0:'))!
    .split(':')[1]
    .trim()
    .split(/\s+/)
    .map(Number);
  assert.deepEqual(d.get('eth0'), {
    rxBytes: eth0[0],
    rxErrors: eth0[2],
    txBytes: eth0[8],
    txErrors: eth0[10],
  });
  assert.equal(d.has('Inter-|   Receive'), false);
});

test('a vCPU thread stat: utime + stime in seconds, also with spaces in the name', () => {
  const t = parseTaskStat(fixture('task-stat-vcpu.txt'))!;
  const f = fixture('task-stat-vcpu.txt').split(') ')[1].split(' ');
  assert.equal(t.state, f[0]);
  assert.equal(t.cpuSeconds, (Number(f[11]) + Number(f[12])) / 100);
  const renamed = fixture('task-stat-vcpu.txt').replace(/\(.*\)/, '(CPU 0/TCG) (x)');
  assert.deepEqual(parseTaskStat(renamed), t);
  assert.equal(parseTaskStat('12 (x'), undefined);
});

test('query-cpus-fast and query-balloon answers', () => {
  const cpus = json('qmp-query-cpus-fast.json');
  assert.deepEqual(
    parseVcpuThreads(cpus),
    cpus.map((c: { 'thread-id': number }) => c['thread-id']),
  );
  assert.deepEqual(parseVcpuThreads([...cpus].reverse()), parseVcpuThreads(cpus), 'cpu-index order');
  assert.equal(parseVcpuThreads([]), undefined);
  assert.equal(parseBalloon(json('qmp-query-balloon.json')), json('qmp-query-balloon.json').actual);
  assert.equal(parseBalloon(null), undefined);
});

test('query-blockstats: counters by guest device', () => {
  const ret = json('qmp-query-blockstats.json');
  const m = parseBlockstats(ret);
  assert.deepEqual([...m.keys()].sort(), ['hdc', 'xvda']);
  const xvda = ret.find((e: { device: string }) => e.device === 'drive-vbd-xvda').stats;
  assert.deepEqual(m.get('xvda'), {
    rdBytes: xvda.rd_bytes,
    wrBytes: xvda.wr_bytes,
    rdOps: xvda.rd_operations,
    wrOps: xvda.wr_operations,
    rdTimeNs: xvda.rd_total_time_ns,
    wrTimeNs: xvda.wr_total_time_ns,
  });
  assert.equal(blockDevice({ device: '', qdev: '/machine/peripheral/vbd-xvdb/virtio-backend' }), 'xvdb');
  assert.equal(blockDevice({ device: 'drive-vbd-3' }), '3');
  assert.equal(blockDevice({ device: 'other' }), undefined);
  assert.equal(parseBlockstats({}).size, 0);
});

test('I/O values: latencies per request, MiB, iowait and queue size from deltas', () => {
  const prev = { rdBytes: 0, wrBytes: 1 << 20, rdOps: 0, wrOps: 10, rdTimeNs: 0, wrTimeNs: 5e6 };
  const cur = { rdBytes: 4 << 20, wrBytes: 3 << 20, rdOps: 8, wrOps: 30, rdTimeNs: 8e6, wrTimeNs: 45e6 };
  const d = diffIo(prev, cur)!;
  const v = ioValues(cur, d, 5);
  assert.equal(v.get('read'), 4 << 20);
  assert.equal(v.get('write'), 3 << 20);
  assert.equal(v.get('read_latency'), 1000); // 8 ms over 8 reads
  assert.equal(v.get('write_latency'), 2000); // 40 ms over 20 writes
  assert.equal(v.get('latency'), 48e3 / 28);
  assert.equal(v.get('io_throughput_read'), 4);
  assert.equal(v.get('io_throughput_write'), 2);
  assert.equal(v.get('io_throughput_total'), 6);
  assert.equal(v.get('iops_total'), 28);
  assert.equal(v.get('iowait'), 0.048);
  assert.equal(v.get('avgqu_sz'), 0.048 / 5);
  assert.equal(diffIo(cur, prev), undefined, 'a counter that went back: no delta');
  assert.deepEqual([...ioValues(cur, undefined, 0).keys()], ['read', 'write'], 'first reading');
  assert.equal(ioValues(ZERO_IO, ZERO_IO, 5).get('read_latency'), 0, 'no request: 0 as xapi');
});
