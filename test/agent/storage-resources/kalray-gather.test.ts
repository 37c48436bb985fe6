// The linux device plugin gathering a Kalray DPU through the kalray_dpu host plugin's own code,
// against the agent tests' stand-in DPU server (no DPU here), and the manager-side report of it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordedIo } from '../../../src/agent/storage-resources/gather-io.js';
import { linuxDevicePlugin } from '../../../src/agent/storage-resources/linux-plugin.js';
import {
  parseDpuBdevs,
  parseDpuLvstores,
  parseDpuRaids,
} from '../../../src/shared/storage-resources/builtin/kalray-dpu.js';
import type { LinuxHostOutputs } from '../../../src/shared/storage-resources/builtin/linux-host.js';
import { FakeDpu } from '../plugins/fake-dpu.js';
import { host } from '../plugins/helpers.js';

test('a configured DPU is in the linux body: devices, RAIDs and stores as the DPU answers them', async (t) => {
  const dpu = new FakeDpu();
  await dpu.start();
  t.after(() => dpu.stop());
  const auth = {
    username: dpu.username,
    password: dpu.password,
    server: '127.0.0.1',
    port: String(dpu.port),
  };
  const [disk1, disk2] = ['HotInNvmeWDS500AFY0-22050C800415n1', 'HotInNvmeWDS500AFY0-22050C800378n1'];
  const h = host();
  await h.call('kalray_dpu', 'raid_create', {
    ...auth,
    base_bdevs: `${disk1},${disk2}`,
    raid_name: 'raid0',
    raid_level: 'raid0',
  });
  await h.call('kalray_dpu', 'lvs_create', { ...auth, lvs_name: 'lvs', bdev_name: 'raid0' });

  // Only the DPU matters here: the host's own tools are left out.
  const io = recordedIo({ absent: ['lsblk', 'vgs', 'mdadm', 'zpool', 'smartctl'] });
  const plugin = linuxDevicePlugin(io, {
    dpu: { server: '127.0.0.1', port: dpu.port, username: dpu.username, password: dpu.password },
  });
  const body = (await plugin.createInstance().startSession()) as LinuxHostOutputs;
  const k = body.kalrayDpu!;
  assert.equal(k.server, '127.0.0.1');
  assert.ok(!JSON.stringify(body).includes(dpu.password), 'credentials never leave the agent');
  const bdevs = parseDpuBdevs(k.devices);
  assert.deepEqual(
    bdevs.map((b) => b.name),
    [disk1, disk2, 'raid0'],
  );
  assert.deepEqual(
    parseDpuRaids(k.raids, bdevs).map((r) => r.name),
    ['raid0'],
  );
  assert.deepEqual(
    parseDpuLvstores(k.lvs).map((s) => [s.name, s.baseBdev]),
    [['lvs', 'raid0']],
  );
  assert.deepEqual(
    dpu.calls.slice(-3).map((c) => c.method),
    ['bdev_get_bdevs', 'bdev_raid_get_bdevs', 'bdev_lvol_get_lvstores'],
  );
});
