import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { linux, Plugin, type Resource } from '../../../../src/shared/storage-resources/api/index.js';
import {
  type BlockDevice,
  parseLsblk,
  reportBlockDevices,
} from '../../../../src/shared/storage-resources/builtin/lsblk.js';
import {
  parseLvs,
  parsePvs,
  parseVgs,
  reportLvm,
} from '../../../../src/shared/storage-resources/builtin/lvm.js';
import { parseMountinfo, reportMounts } from '../../../../src/shared/storage-resources/builtin/mountinfo.js';
import { ToolOutputError } from '../../../../src/shared/storage-resources/builtin/output-error.js';
import { RecordingSink } from '../../../../src/shared/storage-resources/recording-sink.js';
import type { ReportedResource } from '../../../../src/shared/storage-resources/session.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

type Report = (p: Plugin, root: Resource) => void;

/** Runs `report` as an agent session start of the linux plugin; returns what sessionOpen carried. */
async function run(report: Report): Promise<ReportedResource[]> {
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
  assert.ok(open, 'sessionOpen was called');
  return open[3] as ReportedResource[];
}

const byHandle = (rs: ReportedResource[], h: unknown) => rs.find((r) => r.handle === h);
const ofClass = (rs: ReportedResource[], c: string) => rs.filter((r) => r.class === c);

test('lsblk (real capture: loop0, zram0, vda): drives, device nodes, parents', async () => {
  const devices = parseLsblk(fixture('lsblk.json'));
  assert.deepEqual(
    devices.map((d) => [d.path, d.type, d.majMin]),
    [
      ['/dev/loop0', 'loop', '7:0'],
      ['/dev/zram0', 'disk', '253:0'],
      ['/dev/vda', 'disk', '254:0'],
    ],
  );
  const rs = await run((p, root) => reportBlockDevices(p, root, 3, devices));
  const drives = ofClass(rs, 'linux.UnsharedDevice');
  // zram0 is unconfigured (size 0): not a drive.
  assert.deepEqual(
    drives.map((d) => [d.attributes.path, d.attributes.size]),
    [
      ['/dev/loop0', 16777216],
      ['/dev/vda', 274877906944],
    ],
  );
  // This machine's lsblk has no udev database to read filesystem types from: none reported.
  assert.equal(
    drives.find((d) => d.attributes.path === '/dev/vda')?.attributes.filesystem_type ?? null,
    null,
  );
  const rootHandle = rs[0].handle;
  for (const d of drives) assert.deepEqual(d.parents, [rootHandle]);
  const nodes = ofClass(rs, 'linux.LinuxDeviceNode');
  assert.equal(nodes.length, 2);
  for (const n of nodes) {
    assert.equal(n.attributes.host_id, 3);
    const drive = byHandle(rs, (n.attributes.logical_drive as { handle: number }).handle);
    assert.equal(drive?.attributes.path, n.attributes.path);
    assert.deepEqual(n.parents, [drive?.handle]);
  }
});

test('lsblk: a disk with a serial is a ScsiDevice (GlobalId), partitions are Partition of it', async () => {
  const devices: BlockDevice[] = [
    {
      name: 'sda',
      path: '/dev/sda',
      majMin: '8:0',
      type: 'disk',
      size: 1000,
      serial: 'S1',
      fstype: null,
      partn: null,
      parentPath: null,
    },
    {
      name: 'sda1',
      path: '/dev/sda1',
      majMin: '8:1',
      type: 'part',
      size: 400,
      serial: null,
      fstype: 'xfs',
      partn: 1,
      parentPath: '/dev/sda',
    },
  ];
  const rs = await run((p, root) => reportBlockDevices(p, root, 3, devices));
  const [disk] = ofClass(rs, 'linux.ScsiDevice');
  assert.equal(disk.attributes.serial, 'S1');
  const [part] = ofClass(rs, 'linux.Partition');
  assert.deepEqual(part.attributes.container, { handle: disk.handle });
  assert.equal(part.attributes.number, 1);
  assert.equal(part.attributes.filesystem_type, 'xfs');
  assert.deepEqual(part.parents, [disk.handle]);
  assert.deepEqual(
    ofClass(rs, 'linux.LinuxDeviceNode').map((n) => n.attributes.path),
    ['/dev/sda', '/dev/sda1'],
  );
});

test('LVM (real vgs/pvs of a VG on a loop device): the VG is a child of its PV drive', async () => {
  const devices = parseLsblk(fixture('lsblk.json'));
  const vgs = parseVgs(fixture('lvm-vgs.json'));
  const pvs = parsePvs(fixture('lvm-pvs.json'));
  const lvsReal = parseLvs(fixture('lvm-lvs.json'));
  assert.deepEqual(lvsReal, []);
  const lvs = parseLvs(fixture('lvm-lvs-constructed.json'));
  assert.deepEqual(vgs, [
    { name: 'bpvg_builtin', uuid: '4dRWav-L041-UyEu-H3Hs-ffVe-T0Je-WvGOan', size: 62914560 },
  ]);
  assert.equal(pvs[0].name, '/dev/loop0');
  const rs = await run((p, root) => {
    const reported = reportBlockDevices(p, root, 3, devices);
    reportLvm(p, root, 3, { vgs, lvs, pvs }, reported);
  });
  const loop = ofClass(rs, 'linux.UnsharedDevice').find((d) => d.attributes.path === '/dev/loop0');
  const [vg] = ofClass(rs, 'linux.LvmGroup');
  assert.deepEqual(vg.parents, [loop?.handle]);
  assert.equal(vg.attributes.size, 62914560);
  const volumes = ofClass(rs, 'linux.LvmVolume');
  assert.deepEqual(
    volumes.map((v) => [v.attributes.name, v.attributes.size, v.attributes.vg, v.parents]),
    [
      ['lv0', 16777216, { handle: vg.handle }, [vg.handle]],
      ['lv1', 8388608, { handle: vg.handle }, [vg.handle]],
    ],
  );
  const lvNode = ofClass(rs, 'linux.LinuxDeviceNode').find(
    (n) => n.attributes.path === '/dev/bpvg_builtin/lv0',
  );
  assert.deepEqual(lvNode?.attributes.logical_drive, { handle: volumes[0].handle });
});

test('LVM: a VG whose PVs are not reported hangs off the root; an LV of an unknown VG is an error', async () => {
  const vgs = parseVgs(fixture('lvm-vgs.json'));
  const pvs = parsePvs(fixture('lvm-pvs.json'));
  const rs = await run((p, root) => reportLvm(p, root, 3, { vgs, lvs: [], pvs }));
  assert.deepEqual(ofClass(rs, 'linux.LvmGroup')[0].parents, [rs[0].handle]);
  const lvs = parseLvs(fixture('lvm-lvs-constructed.json'));
  await assert.rejects(
    run((p, root) => reportLvm(p, root, 3, { vgs: [], lvs, pvs })),
    /lvs: logical volume lv0 is in a volume group vgs did not list/,
  );
});

test('mountinfo (real capture): only mounts of reported block devices, child of the drive', async () => {
  const mounts = parseMountinfo(fixture('mountinfo.txt'));
  assert.ok(mounts.length > 10);
  assert.deepEqual(
    mounts.find((m) => m.mountPoint === '/'),
    { majMin: '254:0', mountPoint: '/', fstype: 'ext4', source: '/dev/vda' },
  );
  const devices = parseLsblk(fixture('lsblk.json'));
  const rs = await run((p, root) => {
    const reported = reportBlockDevices(p, root, 3, devices);
    const byMajMin = new Map([...reported.values()].map((r) => [r.device.majMin, r.drive]));
    reportMounts(p, mounts, byMajMin);
  });
  const vda = ofClass(rs, 'linux.UnsharedDevice').find((d) => d.attributes.path === '/dev/vda');
  const local = ofClass(rs, 'linux.LocalMount');
  assert.ok(local.length >= 1);
  const slash = local.find((m) => m.attributes.mount_point === '/');
  assert.deepEqual(slash?.attributes, { fstype: 'ext4', mount_point: '/' });
  assert.deepEqual(slash?.parents, [vda?.handle]);
  for (const m of local) assert.deepEqual(m.parents, [vda?.handle]);
});

test('mountinfo: octal escapes are decoded', () => {
  const [m] = parseMountinfo(
    '36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n',
  );
  assert.equal(m.mountPoint, '/mnt two');
  assert.equal(m.fstype, 'ext3');
});

test('hostile output: empty, truncated, wrong shape, bad sizes → ToolOutputError naming the tool', () => {
  const cases: [() => unknown, RegExp][] = [
    [() => parseLsblk(''), /^lsblk: empty output$/],
    [() => parseLsblk(fixture('lsblk.json').slice(0, 300)), /^lsblk: output is not JSON/],
    [() => parseLsblk('{"blockdevices": 3}'), /^lsblk: no "blockdevices" array$/],
    [
      () => parseLsblk('{"blockdevices": [{"name": "x", "type": "disk", "maj:min": "1:2", "size": "-1"}]}'),
      /^lsblk: size of x is not a size/,
    ],
    [
      () => parseLsblk('{"blockdevices": [{"name": "x", "path": "/etc/passwd", "type": "disk"}]}'),
      /not under \/dev/,
    ],
    [
      () =>
        parseLsblk(
          '{"blockdevices": [{"name": "x", "type": "disk", "maj:min": "1:2", "size": 1, "children": {}}]}',
        ),
      /children of x is not an array/,
    ],
    [() => parseVgs('{"report": [{"vg": [{"vg_name": "a"}]}]}'), /^vgs: vg_uuid is missing/],
    [() => parsePvs('[]'), /^pvs: no "report" array$/],
    [() => parseLvs('{"report": [{"pv": []}]}'), /^lvs: report has no "lv" array$/],
    [() => parseMountinfo('garbage\n'), /mountinfo: line 1 is not a mountinfo line/],
  ];
  for (const [f, re] of cases)
    assert.throws(f, (e: unknown) => e instanceof ToolOutputError && re.test(e.message));
  // Unknown fields are ignored.
  const [d] = parseLsblk(
    '{"blockdevices": [{"name": "x", "type": "disk", "maj:min": "1:2", "size": 5, "future": {"a": 1}}]}',
  );
  assert.equal(d.path, '/dev/x');
});
