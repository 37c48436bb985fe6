// zfs, raid, smartctl and hyperthreading: the real command code run against recorded outputs,
// plus the real tools, expecting what the host has (ZFS or not, SMART disks or not).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseLscpuThreads, parseXlThreads } from '../../../src/agent/plugins/builtin/hyperthreading.js';
import { parseMdadmDetail } from '../../../src/agent/plugins/builtin/raid.js';
import { deviceKeys, parseScan } from '../../../src/agent/plugins/builtin/smartctl.js';
import { parseZfsGet } from '../../../src/agent/plugins/builtin/zfs.js';
import { failure, fixture, fixtureJson, host, scripted, tempDir } from './helpers.js';

/** stdout of a host command, or undefined if it cannot run or fails. */
function output(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return undefined;
  }
}

/** ZFS is usable: the tools run and the kernel module is loaded. */
const hostZfsDatasets = (): string[] | undefined => {
  if (!existsSync('/dev/zfs') && !existsSync('/sys/module/zfs')) return undefined;
  const names = output('zfs', ['list', '-H', '-o', 'name']);
  return names === undefined ? undefined : names.split('\n').filter((n) => n !== '');
};

describe('zfs', () => {
  it('parses `zfs get -H all` into {dataset: {property: value}}', async () => {
    const { run, calls } = scripted(() => ({ stdout: fixture('zfs-get-all.txt') }));
    const out = JSON.parse(await host({ run }).call('zfs.py', 'list_zfs_pools', {}));
    assert.deepEqual(calls, [['zfs', 'get', '-H', 'all']]);
    assert.deepEqual(out.tank, (fixtureJson('zfs-list-expected.json') as Record<string, unknown>).tank);
    assert.equal(out['tank/vms'].mountpoint, '/tank/vms');
  });

  it('gives {} without zfs tools, and the errno / exit code otherwise', async () => {
    assert.equal(await host({ run: scripted(() => 'missing').run }).call('zfs', 'list_zfs_pools', {}), '{}');
    const d = await failure(
      host({
        run: scripted(() => ({ code: 1, stderr: 'internal error: failed to initialize ZFS library' })).run,
      }).call('zfs', 'list_zfs_pools', {}),
    );
    assert.deepEqual(d.slice(0, 3), [
      'XENAPI_PLUGIN_FAILURE',
      '1',
      "Command '['zfs', 'get', '-H', 'all']' failed with code: 1",
    ]);
  });

  it('lists the real datasets where ZFS exists, {} where it does not', async (t) => {
    const datasets = hostZfsDatasets();
    const out = JSON.parse(await host().call('zfs', 'list_zfs_pools', {}));
    if (datasets === undefined) {
      t.diagnostic('this host has no ZFS: expecting {}');
      assert.deepEqual(out, {});
      return;
    }
    t.diagnostic(`this host has ZFS: ${datasets.length} datasets`);
    for (const d of datasets) assert.equal(typeof out[d]?.type, 'string', d);
  });

  it('a zfs that cannot be run is an OS error with python strerror text', async (t) => {
    const dir = tempDir('zfs-noexec');
    t.after(dir.cleanup);
    writeFileSync(join(dir.path, 'zfs'), '#!/bin/sh\n', { mode: 0o644 });
    const path = process.env.PATH;
    process.env.PATH = dir.path;
    try {
      const d = await failure(host().call('zfs', 'list_zfs_pools', {}));
      assert.deepEqual(d, ['XENAPI_PLUGIN_FAILURE', '13', 'Permission denied', 'zfs']);
    } finally {
      process.env.PATH = path;
    }
  });

  it('ignores blank and short lines', () => {
    assert.deepEqual(parseZfsGet('\nbad line\np\tx\ty\t-\n'), { p: { x: 'y' } });
  });
});

describe('raid', () => {
  it('parses a clean array into the seed result', async () => {
    const { run, calls } = scripted(() => ({ stdout: fixture('mdadm-detail-clean.txt') }));
    const out = JSON.parse(await host({ run }).call('raid.py', 'check_raid_pool', {}));
    assert.deepEqual(calls, [['mdadm', '--detail', '/dev/md127']]);
    assert.deepEqual(out, fixtureJson('mdadm-expected.json'));
  });

  it('keeps removed members with their five columns', () => {
    const r = parseMdadmDetail(fixture('mdadm-detail-degraded.txt'));
    assert.equal(r.raid.State, 'clean, degraded');
    assert.equal(r.raid['Consistency Policy'], 'resync');
    assert.deepEqual(r.volumes, [
      ['2', '8', '0', '0', 'active sync', '/dev/sda'],
      ['-', '0', '0', '1', 'removed'],
    ]);
  });

  it('gives {} when mdadm fails (no array)', async () => {
    const run = scripted(() => ({
      code: 1,
      stderr: 'mdadm: cannot open /dev/md127: No such file or directory',
    })).run;
    assert.equal(await host({ run }).call('raid', 'check_raid_pool', {}), '{}');
  });

  it('is busy while a check runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const run = scripted(async () => {
      await gate;
      return { stdout: fixture('mdadm-detail-clean.txt') };
    }).run;
    const h = host({ run });
    const first = h.call('raid', 'check_raid_pool', {});
    assert.deepEqual(await failure(h.call('raid', 'check_raid_pool', {})), [
      'XENAPI_PLUGIN_FAILURE',
      '-1',
      'The plugin is busy.',
      '',
    ]);
    release();
    assert.ok(JSON.parse(await first).raid);
  });

  it('reports a missing mdadm as upstream does (errno 2)', async () => {
    const d = await failure(host({ run: scripted(() => 'missing').run }).call('raid', 'check_raid_pool', {}));
    assert.deepEqual(d, ['XENAPI_PLUGIN_FAILURE', '2', 'No such file or directory', 'mdadm']);
  });
});

describe('smartctl', () => {
  const answers = (argv: string[]) => {
    if (argv[1] === '--scan') return { stdout: fixture('smartctl-scan.txt') };
    const dev = argv.at(-1);
    const type = argv.at(-2);
    const file =
      dev === '/dev/sda'
        ? 'smartctl-sda-sat.json'
        : dev === '/dev/nvme1'
          ? 'smartctl-nvme1-nvme.json'
          : `smartctl-bus0-megaraid${type?.split(',')[1]}.json`;
    // smartctl's exit status is a bit mask: 4 is "some SMART command failed", output still valid.
    return { stdout: fixture(file), code: file.includes('megaraid') ? 4 : 0 };
  };

  it('scans devices and keys results name:type, as XCP-ng does (/dev/sda:sat)', () => {
    const devices = parseScan(fixture('smartctl-scan.txt'));
    assert.deepEqual(devices[2], { name: '/dev/bus/0', type: 'megaraid,0' });
    assert.deepEqual(deviceKeys(devices), [
      '/dev/sda:sat',
      '/dev/nvme1:nvme',
      '/dev/bus/0:megaraid,0',
      '/dev/bus/0:megaraid,1',
    ]);
  });

  it('information returns each device report', async () => {
    const { run, calls } = scripted(answers);
    const out = JSON.parse(await host({ run }).call('smartctl.py', 'information', {}));
    assert.deepEqual(calls[1], ['smartctl', '-j', '-a', '-d', 'sat', '/dev/sda']);
    assert.deepEqual(Object.keys(out), [
      '/dev/sda:sat',
      '/dev/nvme1:nvme',
      '/dev/bus/0:megaraid,0',
      '/dev/bus/0:megaraid,1',
    ]);
    assert.deepEqual(out['/dev/sda:sat'], fixtureJson('smartctl-sda-sat.json'));
    assert.deepEqual(out['/dev/nvme1:nvme'], fixtureJson('smartctl-nvme1-nvme.json'));
    assert.equal(out['/dev/bus/0:megaraid,1'].serial_number, 'Z4012MK1');
  });

  it('health says PASSED or FAILED', async () => {
    const run = scripted((argv) =>
      argv.at(-1) === '/dev/nvme1'
        ? { stdout: fixture('smartctl-health-failed.json'), code: 8 }
        : answers(argv),
    ).run;
    assert.deepEqual(JSON.parse(await host({ run }).call('smartctl', 'health', {})), {
      '/dev/sda:sat': 'PASSED',
      '/dev/nvme1:nvme': 'FAILED',
      '/dev/bus/0:megaraid,0': 'PASSED',
      '/dev/bus/0:megaraid,1': 'PASSED',
    });
  });

  it('fails cleanly on output that is not JSON or lacks smart_status', async () => {
    const run = scripted((argv) =>
      argv[1] === '--scan' ? answers(argv) : { stdout: 'Smartctl open device failed', code: 2 },
    ).run;
    assert.deepEqual((await failure(host({ run }).call('smartctl', 'information', {}))).slice(1, 3), [
      '-1',
      'smartctl gave no JSON for /dev/sda',
    ]);
    const run2 = scripted((argv) => (argv[1] === '--scan' ? answers(argv) : { stdout: '{}' })).run;
    assert.equal((await failure(host({ run: run2 }).call('smartctl', 'health', {})))[2], "'smart_status'");
  });

  it('runs against the real smartctl: one name:type key per disk it scans', async (t) => {
    const scan = output('smartctl', ['--scan']);
    if (scan === undefined) {
      t.skip('smartctl is not installed');
      return;
    }
    const want = [...scan.matchAll(/^(\S+) -d (\S+)/gm)].map((m) => `${m[1]}:${m[2]}`);
    t.diagnostic(want.length ? `disks: ${want.join(' ')}` : 'this host has no SMART disks');
    const health = JSON.parse(await host({ commandTimeoutMs: 120_000 }).call('smartctl', 'health', {}));
    assert.deepEqual(Object.keys(health), want);
    for (const v of Object.values(health)) assert.match(String(v), /^(PASSED|FAILED)$/);
  });
});

describe('hyperthreading', () => {
  it('asks xl where it exists', async () => {
    for (const [out, want] of [
      ['1', 'false'],
      ['2', 'true'],
      ['0', 'false'],
      ['-1', 'false'],
    ]) {
      const run = scripted(() => ({ stdout: `${out}\n` })).run;
      assert.equal(await host({ run }).call('hyperthreading', 'get_hyperthreading', {}), want);
    }
    assert.throws(() => parseXlThreads('junk'));
  });

  it('falls back to lscpu without xl, and matches the real lscpu here', async () => {
    const { run, calls } = scripted((argv) =>
      argv[0] === 'xl' ? 'missing' : { stdout: 'Core(s) per socket:  8\nThread(s) per core:  2\n' },
    );
    assert.equal(await host({ run }).call('hyperthreading', 'get_hyperthreading', {}), 'true');
    assert.deepEqual(calls, [['xl', 'info', 'threads_per_core'], ['lscpu']]);
    const { readFileSync, readdirSync } = await import('node:fs');
    // Independent truth: a CPU whose thread_siblings_list names more than one CPU.
    const cpus = readdirSync('/sys/devices/system/cpu').filter((n) => /^cpu\d+$/.test(n));
    const smt = cpus.some((c) => {
      try {
        return /[,-]/.test(
          readFileSync(`/sys/devices/system/cpu/${c}/topology/thread_siblings_list`, 'utf8'),
        );
      } catch {
        return false;
      }
    });
    assert.equal(await host().call('hyperthreading', 'get_hyperthreading', {}), String(smt));
    assert.equal(parseLscpuThreads('Thread(s) per core:                      1\n'), 1);
  });
});
