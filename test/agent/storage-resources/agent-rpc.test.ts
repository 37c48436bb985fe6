// The device plugin procedures on a real started agent running the real `linux` device plugin on
// this machine: real lsblk, LVM, mountinfo, /sys/class/net, over real loop devices (ext4 mounted,
// a VG); smartctl is real too, with a recorded report substituted for the loop device (no SMART
// disk here) so that the smartctl host plugin's own code runs on it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseLsblk } from '../../../src/shared/storage-resources/builtin/lsblk.js';
import { parsePvs, parseVgs } from '../../../src/shared/storage-resources/builtin/lvm.js';
import { parseMountinfo } from '../../../src/shared/storage-resources/builtin/mountinfo.js';
import { parseSmartInformation } from '../../../src/shared/storage-resources/builtin/smart.js';
import type { DevicePluginMessage } from '../../../src/shared/host/device-plugins.js';
import type { LinuxHostOutputs } from '../../../src/shared/storage-resources/builtin/linux-host.js';
import { makeLoopStorage } from '../../helpers/loop-storage.js';
import { startTestAgent } from '../../helpers/test-agent.js';

const smartFixture = JSON.parse(
  readFileSync(new URL('../plugins/fixtures/smartctl-sda-sat.json', import.meta.url), 'utf8'),
);

async function until<T>(f: () => Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a real agent: request, create, DATA seq 0 with this host, updates as deltas, terminate', async (t) => {
  const loops = await makeLoopStorage(t, 'feedrpc');
  const smartKey = `${loops.fsLoop}:sat`;
  const a = await startTestAgent(t, {
    devicePlugins: {
      timings: { pollMs: 300, requestBackoffMs: 200, requestBackoffMaxMs: 400 },
      tickMs: 50,
      recorded: {
        commands: {
          'smartctl --scan': `${loops.fsLoop} -d sat # ${loops.fsLoop} [SAT], ATA device\n`,
          [`smartctl -j -a -d sat ${loops.fsLoop}`]: JSON.stringify({
            ...smartFixture,
            device: { ...smartFixture.device, name: loops.fsLoop },
          }),
        },
      },
    },
  });
  a.client.connect();
  await until(async () => (a.client.connected ? true : undefined), 'agent connection');
  const dp = a.client.devicePlugins;
  const taken: DevicePluginMessage[] = [];
  const takeUntil = async (p: (m: DevicePluginMessage) => boolean, what: string) =>
    until(async () => {
      taken.push(...(await dp.device_plugin_take()));
      return taken.find(p);
    }, what);

  assert.deepEqual(await dp.device_plugin_list(), [
    { name: 'linux', session_id: null, session_seq: null, last_error: null },
  ]);
  await takeUntil((m) => m.type === 'SESSION_CREATE_REQUEST', 'a session request');
  await dp.device_plugin_session_create('linux', 'S-1');
  const first = await takeUntil((m) => m.type === 'DATA' && m.session_id === 'S-1', 'DATA seq 0');
  assert.equal(first.session_seq, 0);
  const body = first.body as LinuxHostOutputs;
  // This host as it is now: the loop devices, the ext4 mount, the VG on its PV.
  const devices = parseLsblk(body.lsblk!);
  // (lsblk's fstype stays null here: no udev database in this container to read it from.)
  const fs = devices.find((d) => d.path === loops.fsLoop);
  assert.equal(fs?.size, 64 * 1024 * 1024);
  assert.ok(
    parseMountinfo(body.mountinfo!).some((m) => m.mountPoint === loops.mountPoint && m.majMin === fs.majMin),
  );
  const vg = parseVgs(body.lvm!.vgs).find((v) => v.name === loops.vg);
  assert.ok(vg, 'the VG is listed');
  assert.ok(parsePvs(body.lvm!.pvs).some((p) => p.name === loops.pvLoop && p.vgUuid === vg.uuid));
  const smart = parseSmartInformation(body.smartInformation!);
  assert.deepEqual(
    smart.map((s) => [s.key, s.serial]),
    [[smartKey, smartFixture.serial_number]],
  );
  assert.ok(Object.keys(body.sysClassNet as object).includes('lo'));

  // Updates: nothing changed on the host, so every source is null (sent as a heartbeat).
  const update = await takeUntil((m) => m.type === 'DATA' && m.session_seq === 1, 'DATA seq 1');
  assert.ok(
    Object.values(update.body as object).every((v) => v === null),
    JSON.stringify(update.body).slice(0, 200),
  );
  assert.deepEqual((await dp.device_plugin_list())[0].session_id, 'S-1');

  // The master ends it: the agent asks for a new one.
  taken.length = 0;
  await dp.device_plugin_session_terminate('linux', 'S-1');
  await takeUntil((m) => m.type === 'SESSION_CREATE_REQUEST', 'a new request');
  assert.equal((await dp.device_plugin_list())[0].session_id, null);

  // Diagnostics: a listing outside any session.
  const listing = (await dp.device_plugin_run('linux')) as LinuxHostOutputs;
  assert.ok(parseLsblk(listing.lsblk!).some((d) => d.path === loops.pvLoop));
});

test('bad arguments and unknown plugins are INVALID_VALUE; a test agent runs no plugin by default', async (t) => {
  const a = await startTestAgent(t);
  a.client.connect();
  await until(async () => (a.client.connected ? true : undefined), 'agent connection');
  const dp = a.client.devicePlugins;
  assert.deepEqual(await dp.device_plugin_list(), []);
  assert.deepEqual(await dp.device_plugin_take(), []);
  await assert.rejects(dp.device_plugin_session_create('linux', 'S'), /INVALID_VALUE/);
  await assert.rejects(dp.device_plugin_run('linux'), /INVALID_VALUE/);
  await assert.rejects(dp.device_plugin_session_create('linux', 'a b/../c' as string), /INVALID_VALUE/);
  await assert.rejects(dp.device_plugin_session_terminate(42 as unknown as string, null), /INVALID_VALUE/);
});
