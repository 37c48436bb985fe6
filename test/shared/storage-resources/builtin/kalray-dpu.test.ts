// The Kalray DPU source on recorded replies (no DPU here): SPDK's bdev_get_bdevs,
// bdev_raid_get_bdevs (category all) and bdev_lvol_get_lvstores, written in SPDK's documented reply
// format for the two NVMe disks the agent's fake DPU (test/agent/plugins/fake-dpu.ts) has, a RAID1
// on them, the `lvs` store and volumes volume_09 and volume_10 (the names the DPU firmware allows).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { linux, Plugin } from '../../../../src/shared/storage-resources/api/index.js';
import {
  type KalrayDpuOutputs,
  parseDpuRaids,
  parseDpuBdevs,
  reportKalrayDpu,
} from '../../../../src/shared/storage-resources/builtin/kalray-dpu.js';
import { ToolOutputError } from '../../../../src/shared/storage-resources/builtin/output-error.js';
import { RecordingSink } from '../../../../src/shared/storage-resources/recording-sink.js';
import type { ReportedResource } from '../../../../src/shared/storage-resources/session.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

const recorded: KalrayDpuOutputs = {
  server: 'dpu.local',
  port: 8080,
  devices: fixture('kalray-bdevs.json'),
  raids: fixture('kalray-raids.json'),
  lvs: fixture('kalray-lvs.json'),
};

async function report(out: KalrayDpuOutputs) {
  const root = new linux.PluginAgentResources({ host_id: 3, plugin_name: 'linux' });
  class P extends Plugin {
    override initialScan() {}
    override agentSessionStart(_h: number, data: unknown) {
      reportKalrayDpu(this, root, data as KalrayDpuOutputs);
    }
  }
  const sink = new RecordingSink();
  const plugin = new P({ sink, root: 'r', rootResource: root, classes: [], pluginName: 'linux' });
  await plugin.doAgentSessionStart(out);
  const rs = sink.calls.find((c) => c[0] === 'sessionOpen')![3] as ReportedResource[];
  return { rs, sink };
}

test('the DPU, its disks, RAID, store and volumes, each under what it is built on', async () => {
  const { rs, sink } = await report(recorded);
  const of = (c: string) => rs.filter((r) => r.class === `linux.${c}`);
  const [dpu] = of('KalrayDpu');
  assert.deepEqual(dpu.attributes, { server: 'dpu.local', port: 8080 });
  assert.deepEqual(dpu.parents, [1]);
  const disks = of('DpuDisk');
  assert.deepEqual(
    disks.map((d) => [d.attributes.name, d.attributes.size, d.parents]),
    [
      ['HotInNvmeWDS500AFY0-22050C800415n1', 976773168 * 512, [dpu.handle]],
      ['HotInNvmeWDS500AFY0-22050C800378n1', 976773168 * 512, [dpu.handle]],
    ],
  );
  const [raid] = of('DpuRaid');
  assert.equal(raid.attributes.raid_level, 'raid1');
  assert.deepEqual(
    raid.parents,
    disks.map((d) => d.handle),
  );
  const [store] = of('DpuLvstore');
  assert.deepEqual(store.attributes, {
    uuid: 'a9f5e2c0-3d6b-4f0e-8c6a-7e1d2b3c4d5e',
    name: 'lvs',
    size: 14903 * 33554432,
    free: 9903 * 33554432,
  });
  assert.deepEqual(store.parents, [raid.handle]);
  const vols = of('DpuVolume');
  assert.equal(vols.length, 2);
  assert.ok(vols.every((v) => v.parents[0] === store.handle));
  assert.equal(vols[0].attributes.size, 209715200 * 512);
  // An online RAID raises nothing (its inactive states are sent as the first evaluation).
  assert.ok(
    sink.calls
      .filter((c) => c[0] === 'sessionNotifyAlert')
      .every((c) => !(c[3] as { active: boolean }).active),
  );
});

test('a RAID not online raises its alert; an older SPDK listing RAIDs by name is read too', async () => {
  const raids = JSON.parse(recorded.raids);
  raids[0].state = 'offline';
  const { rs, sink } = await report({ ...recorded, raids: JSON.stringify(raids) });
  const raid = rs.find((r) => r.class === 'linux.DpuRaid')!;
  const raised = sink.calls.filter(
    (c) => c[0] === 'sessionNotifyAlert' && (c[3] as { active: boolean }).active,
  );
  assert.deepEqual(
    raised.map((c) => [c[2], (c[3] as { alertClass: string }).alertClass]),
    [[raid.handle, '_None_state_40']],
  );
  const bdevs = parseDpuBdevs(recorded.devices);
  assert.deepEqual(parseDpuRaids('["raid1"]', bdevs), [
    {
      name: 'raid1',
      level: null,
      state: 'online',
      base: ['HotInNvmeWDS500AFY0-22050C800415n1', 'HotInNvmeWDS500AFY0-22050C800378n1'],
    },
  ]);
});

test('hostile replies: named errors, nothing reported', async () => {
  for (const [out, msg] of [
    [{ ...recorded, devices: '' }, /kalray_dpu: empty output/],
    [{ ...recorded, devices: '{}' }, /get_devices is not a list/],
    [{ ...recorded, lvs: '[{"name":"lvs"}]' }, /kalray_dpu: cluster_size of lvs is not a size/],
    [{ ...recorded, lvs: '[]' }, /volume .* is in a store get_lvs did not list/],
    [{ ...recorded, raids: '[5]' }, /neither a name nor an object/],
  ] as const) {
    await assert.rejects(
      report(out as KalrayDpuOutputs),
      (e: unknown) => e instanceof ToolOutputError && msg.test(e.message),
    );
  }
});
