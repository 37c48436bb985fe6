import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { linux, Plugin, type Resource } from '../../../../src/shared/storage-resources/api/index.js';
import type { BlockDevice } from '../../../../src/shared/storage-resources/builtin/lsblk.js';
import { reportBlockDevices } from '../../../../src/shared/storage-resources/builtin/lsblk.js';
import {
  parseMdadmDetail,
  parseMdstat,
  reportMdRaid,
} from '../../../../src/shared/storage-resources/builtin/md-raid.js';
import { ToolOutputError } from '../../../../src/shared/storage-resources/builtin/output-error.js';
import {
  parseZfsList,
  parseZpoolList,
  reportZfs,
} from '../../../../src/shared/storage-resources/builtin/zfs.js';
import { RecordingSink } from '../../../../src/shared/storage-resources/recording-sink.js';
import type { ReportedResource } from '../../../../src/shared/storage-resources/session.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
// mdadm --detail outputs recorded for the agent's raid host plugin.
const agentFixture = (name: string) =>
  readFileSync(new URL(`../../../agent/plugins/fixtures/${name}`, import.meta.url), 'utf8');

async function run(report: (p: Plugin, root: Resource) => void): Promise<ReportedResource[]> {
  class Linux extends Plugin {
    override initialScan() {}
    override agentSessionStart() {
      report(this, root);
    }
  }
  const root = new linux.PluginAgentResources({ host_id: 3, plugin_name: 'linux' });
  const sink = new RecordingSink();
  const plugin = new Linux({ sink, root: 'host-3', rootResource: root, classes: [], pluginName: 'linux' });
  await plugin.doAgentSessionStart({});
  const open = sink.calls.find((c) => c[0] === 'sessionOpen');
  assert.ok(open);
  return open[3] as ReportedResource[];
}

const disk = (name: string, majMin: string, serial: string): BlockDevice => ({
  name,
  path: `/dev/${name}`,
  majMin,
  type: 'disk',
  size: 64424509440,
  serial,
  fstype: 'linux_raid_member',
  partn: null,
  parentPath: null,
});

test('/proc/mdstat: arrays, levels, members, failed flags', () => {
  assert.deepEqual(parseMdstat(fixture('mdstat-raid1.txt')), [
    {
      name: 'md127',
      active: true,
      level: 'raid1',
      members: [
        { name: 'sdb', failed: false },
        { name: 'sda', failed: false },
      ],
    },
  ]);
  assert.deepEqual(parseMdstat(fixture('mdstat-degraded.txt'))[0].members, [
    { name: 'sda', failed: false },
    { name: 'sdb', failed: true },
  ]);
});

test('md RAID (recorded mdadm --detail): the array is a child of its member disks', async () => {
  const clean = parseMdadmDetail(agentFixture('mdadm-detail-clean.txt'));
  assert.deepEqual(
    [clean.path, clean.uuid, clean.level, clean.size, clean.state, clean.members],
    [
      '/dev/md127',
      '1766eb6e:85762159:4c98b42e:2da92c97',
      'raid1',
      52428672 * 1024,
      'clean',
      ['/dev/sda', '/dev/sdb'],
    ],
  );
  const rs = await run((p, root) => {
    const devices = reportBlockDevices(p, root, 3, [disk('sda', '8:0', 'SA'), disk('sdb', '8:16', 'SB')]);
    reportMdRaid(p, root, 3, [clean], devices);
  });
  const disks = rs.filter((r) => r.class === 'linux.ScsiDevice').map((r) => r.handle);
  const [md] = rs.filter((r) => r.class === 'linux.MdRaid');
  assert.deepEqual(md.attributes, { uuid: clean.uuid, name: 'localhost:127', size: 52428672 * 1024 });
  assert.deepEqual(md.parents, disks);
  const node = rs.find((r) => r.class === 'linux.LinuxDeviceNode' && r.attributes.path === '/dev/md127');
  assert.deepEqual(node?.attributes.logical_drive, { handle: md.handle });
  // Degraded: the removed slot has no device; only sda remains a parent.
  const degraded = parseMdadmDetail(agentFixture('mdadm-detail-degraded.txt'));
  assert.deepEqual(degraded.members, ['/dev/sda']);
  assert.equal(degraded.state, 'clean, degraded');
});

test('ZFS (zpool/zfs list -Hp): pool, dataset and zvol with its device node', async () => {
  const pools = parseZpoolList(fixture('zpool-list-Hp.txt'));
  const datasets = parseZfsList(fixture('zfs-list-Hp.txt'));
  const rs = await run((p, root) => reportZfs(p, root, 3, { pools, datasets }));
  const [pool] = rs.filter((r) => r.class === 'linux.ZfsPool');
  assert.deepEqual(pool.attributes, { uuid: '4821736584812937781', name: 'tank', size: 10603200512 });
  assert.deepEqual(pool.parents, [rs[0].handle]);
  const [ds] = rs.filter((r) => r.class === 'linux.ZfsDataset');
  assert.deepEqual(
    [ds.attributes.name, ds.attributes.size, ds.parents],
    ['tank/home', 24576 + 10267623424, [pool.handle]],
  );
  const [vol] = rs.filter((r) => r.class === 'linux.ZfsVol');
  assert.deepEqual(
    [vol.attributes.name, vol.attributes.size, vol.parents],
    ['tank/vol0', 1073741824, [pool.handle]],
  );
  const node = rs.find((r) => r.class === 'linux.LinuxDeviceNode');
  assert.deepEqual(
    [node?.attributes.path, node?.attributes.logical_drive],
    ['/dev/zvol/tank/vol0', { handle: vol.handle }],
  );
});

test('md and ZFS: hostile output → ToolOutputError naming the tool', async () => {
  const cases: [() => unknown, RegExp][] = [
    [() => parseMdstat(''), /^\/proc\/mdstat: no "Personalities" line$/],
    [() => parseMdstat('Personalities : []\nmd0 : active raid1 sda[0 sdb\n'), /member "sda\[0" of md0/],
    [() => parseMdadmDetail(''), /^mdadm --detail: no "\/dev\/mdN:" header$/],
    [() => parseMdadmDetail(agentFixture('mdadm-detail-clean.txt').slice(0, 200)), /: no UUID$/],
    [() => parseZpoolList('tank\t12\n'), /^zpool list: line 1 has 2 columns, expected 4$/],
    [() => parseZpoolList('tank\tx\t1\tONLINE\n'), /guid of tank is not a number/],
    [() => parseZfsList('tank/s\t1\tsnapshot\t1\t1\t-\n'), /type of tank\/s is snapshot/],
    [() => parseZfsList('tank/v\t1\tvolume\t1\t1\t-\n'), /volsize of tank\/v is not a size/],
  ];
  for (const [f, re] of cases)
    assert.throws(f, (e: unknown) => e instanceof ToolOutputError && re.test(e.message));
  assert.deepEqual(parseZpoolList(''), []);
  await assert.rejects(
    run((p, root) =>
      reportZfs(p, root, 3, { pools: [], datasets: parseZfsList(fixture('zfs-list-Hp.txt')) }),
    ),
    /zfs list: tank is in a pool zpool list did not list$/,
  );
});
