import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { linux, Plugin } from '../../../../src/shared/storage-resources/api/index.js';
import {
  parseSysClassNet,
  readSysClassNet,
  reportNetInterfaces,
} from '../../../../src/shared/storage-resources/builtin/net-interfaces.js';
import { ToolOutputError } from '../../../../src/shared/storage-resources/builtin/output-error.js';
import { RecordingSink } from '../../../../src/shared/storage-resources/recording-sink.js';
import type { ReportedResource } from '../../../../src/shared/storage-resources/session.js';

const snapshot = JSON.parse(readFileSync(new URL('../fixtures/sys-class-net.json', import.meta.url), 'utf8'));

test('/sys/class/net (real snapshot): interfaces but lo, ScopedId name, unknown speed left out', async () => {
  const ifs = parseSysClassNet(snapshot);
  const root = new linux.PluginAgentResources({ host_id: 3, plugin_name: 'linux' });
  class Linux extends Plugin {
    override initialScan() {}
    override agentSessionStart() {
      reportNetInterfaces(this, root, 3, ifs);
    }
  }
  const sink = new RecordingSink();
  await new Linux({
    sink,
    root: 'host-3',
    rootResource: root,
    classes: [],
    pluginName: 'linux',
  }).doAgentSessionStart({});
  const open = sink.calls.find((c) => c[0] === 'sessionOpen');
  assert.ok(open);
  const rs = (open[3] as ReportedResource[]).filter((r) => r.class === 'linux.LinuxNetworkInterface');
  assert.deepEqual(
    rs.map((r) => r.attributes.name),
    ['berth0', 'eth0', 'ifb0', 'ifb1'],
  );
  const eth0 = rs.find((r) => r.attributes.name === 'eth0');
  assert.deepEqual(eth0?.attributes, {
    host_id: 3,
    name: 'eth0',
    mac_address: '02:fc:00:00:00:01',
    operstate: 'up',
    mtu: 1400,
  });
  for (const r of rs) assert.deepEqual(r.parents, [(open[3] as ReportedResource[])[0].handle]);
});

test('readSysClassNet reads a sysfs-like tree; unreadable files are left out', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'builtin-plugins-net-'));
  try {
    await mkdir(join(dir, 'veth9'));
    await writeFile(join(dir, 'veth9', 'mtu'), '9000\n');
    await writeFile(join(dir, 'veth9', 'type'), '1\n');
    await writeFile(join(dir, 'veth9', 'speed'), '10000\n');
    assert.deepEqual(await readSysClassNet(dir), { veth9: { mtu: '9000', speed: '10000', type: '1' } });
    assert.deepEqual(parseSysClassNet(await readSysClassNet(dir))[0].speedMbps, 10000);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('/sys/class/net: hostile snapshots → ToolOutputError', () => {
  const cases: [unknown, RegExp][] = [
    [null, /snapshot is not an object/],
    [{ '../x': {} }, /is not an interface name/],
    [{ eth0: 'x' }, /eth0: entry is not an object/],
    [{ eth0: { mtu: 'big', type: '1' } }, /eth0: no mtu or type/],
  ];
  for (const [s, re] of cases)
    assert.throws(
      () => parseSysClassNet(s),
      (e: unknown) => e instanceof ToolOutputError && re.test(e.message),
    );
});
