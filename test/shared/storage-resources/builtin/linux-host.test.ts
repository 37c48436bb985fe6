import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { linux, Plugin } from '../../../../src/shared/storage-resources/api/index.js';
import {
  type LinuxHostOutputs,
  reportLinuxHost,
} from '../../../../src/shared/storage-resources/builtin/linux-host.js';
import { RecordingSink } from '../../../../src/shared/storage-resources/recording-sink.js';
import type { ReportedResource } from '../../../../src/shared/storage-resources/session.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const agentFixture = (name: string) =>
  readFileSync(new URL(`../../../agent/plugins/fixtures/${name}`, import.meta.url), 'utf8');

function session() {
  const root = new linux.PluginAgentResources({ host_id: 3, plugin_name: 'linux' });
  class Linux extends Plugin {
    override initialScan() {}
    override agentSessionStart(hostId: number, data: unknown) {
      reportLinuxHost(this, root, hostId, data as LinuxHostOutputs);
    }
  }
  const sink = new RecordingSink();
  const plugin = new Linux({ sink, root: 'host-3', rootResource: root, classes: [], pluginName: 'linux' });
  return { sink, plugin };
}

const all: LinuxHostOutputs = {
  lsblk: fixture('lsblk.json'),
  lvm: {
    vgs: fixture('lvm-vgs.json'),
    lvs: fixture('lvm-lvs-constructed.json'),
    pvs: fixture('lvm-pvs.json'),
  },
  mdadmDetails: [agentFixture('mdadm-detail-clean.txt')],
  zfs: { zpoolList: fixture('zpool-list-Hp.txt'), zfsList: fixture('zfs-list-Hp.txt') },
  smartInformation: JSON.stringify({ '/dev/sda:sat': JSON.parse(agentFixture('smartctl-sda-sat.json')) }),
  mountinfo: fixture('mountinfo.txt'),
  sysClassNet: JSON.parse(fixture('sys-class-net.json')),
};

test('a whole host from every source: each class reported, all under the host root', async () => {
  const { sink, plugin } = session();
  await plugin.doAgentSessionStart(all);
  const open = sink.calls.find((c) => c[0] === 'sessionOpen');
  assert.ok(open);
  const rs = open[3] as ReportedResource[];
  assert.equal(rs[0].attributes.host_id, 3);
  const count = (c: string) => rs.filter((r) => r.class === `linux.${c}`).length;
  assert.deepEqual(
    [
      'UnsharedDevice',
      'LvmGroup',
      'LvmVolume',
      'MdRaid',
      'ZfsPool',
      'ZfsDataset',
      'ZfsVol',
      'SmartDisk',
      'LocalMount',
      'LinuxNetworkInterface',
    ].map(count),
    [2, 1, 2, 1, 1, 1, 1, 1, 2, 4],
  );
});

test('one source with bad output fails the whole session start (nothing half reported)', async () => {
  const { sink, plugin } = session();
  await assert.rejects(
    plugin.doAgentSessionStart({ ...all, zfs: { zpoolList: 'tank\n', zfsList: '' } }),
    /zpool list: line 1/,
  );
  assert.equal(sink.calls.filter((c) => c[0] === 'sessionOpen').length, 0);
});

test('a SMART disk is a parent of the block device its key names (lsblk drive at that path)', async () => {
  const { sink, plugin } = session();
  const sda = JSON.parse(agentFixture('smartctl-sda-sat.json'));
  const megaraid = JSON.parse(agentFixture('smartctl-bus0-megaraid0.json'));
  await plugin.doAgentSessionStart({
    lsblk: fixture('lsblk.json'),
    // The recorded sda report read through the loop device lsblk lists; a disk behind a RAID
    // controller names no block device.
    smartInformation: JSON.stringify({
      '/dev/loop0:sat': { ...sda, device: { ...sda.device, name: '/dev/loop0' } },
      '/dev/bus/0:megaraid,0': megaraid,
    }),
  });
  const rs = sink.calls.find((c) => c[0] === 'sessionOpen')![3] as ReportedResource[];
  const smart = rs.filter((r) => r.class === 'linux.SmartDisk');
  assert.equal(smart.length, 2);
  const onLoop = smart.find((r) => r.attributes.device === '/dev/loop0')!;
  const loop = rs.find((r) => r.class === 'linux.UnsharedDevice' && r.attributes.path === '/dev/loop0')!;
  assert.deepEqual(loop.parents, [1, onLoop.handle]);
  const vda = rs.find((r) => r.class === 'linux.UnsharedDevice' && r.attributes.path === '/dev/vda')!;
  assert.deepEqual(vda.parents, [1]);
  // Nothing else gained the RAID disk as a parent.
  const behind = smart.find((r) => r !== onLoop)!;
  assert.ok(!rs.some((r) => r.parents.includes(behind.handle)));
});
