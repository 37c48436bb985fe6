// Issue 17's "done when", end to end on one host: a real manager and a real agent whose `linux`
// device plugin reads this machine's loop devices (an ext4 mount holding a file SR, an LVM VG) with
// SMART, md and ZFS outputs recorded (no such hardware here), the example controller plugin
// validated and run from the manager's plugin directory, `xe` showing the resource tree, and a
// failing disk raising an alert whose message names the VM on it.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { arrays } from '../../examples/storage-plugins/example-controller.js';
import type { RecordedOutputs } from '../../src/agent/storage-resources/gather-io.js';
import { main as storagePluginCli } from '../../src/clients/storage-plugin/main.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { agentRoot } from '../../src/manager/storage-resources/agent-feed/roots.js';
import { makeLoopStorage } from '../helpers/loop-storage.js';
import { startManager } from '../helpers/manager.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';
import { startTestAgent } from '../helpers/test-agent.js';
import { tempDir } from '../helpers/tmp.js';
import { xe } from '../manager/cli/harness.js';

const EXAMPLE = fileURLToPath(
  new URL('../../examples/storage-plugins/example-controller.ts', import.meta.url),
);
const fixture = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');
const smartSda = JSON.parse(fixture('../agent/plugins/fixtures/smartctl-sda-sat.json'));
const MiB = 1024 * 1024;

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** smartctl's recorded sda report as if it had read `dev`, its health check `passed` or not. */
function smartOn(dev: string, passed: boolean): Record<string, string> {
  return {
    'smartctl --scan': `${dev} -d sat # ${dev} [SAT], ATA device\n`,
    [`smartctl -j -a -d sat ${dev}`]: JSON.stringify({
      ...smartSda,
      device: { ...smartSda.device, name: dev },
      smart_status: { passed },
    }),
  };
}

test('xe shows the host tree and a controller; a failing disk alerts naming the VM on it', {
  timeout: 180_000,
}, async (t) => {
  // The example plugin validates as its authors would check it.
  const said: string[] = [];
  assert.equal(await storagePluginCli(['validate', EXAMPLE], (l) => said.push(l)), 0);
  assert.deepEqual(said, ["Validating plugin 'example-controller'...", 'OK']);

  const dataDir = tempDir(t, 'berth-e2e-resources-');
  const pluginDir = join(dataDir, 'storage-plugins');
  const recorded: RecordedOutputs = {
    files: { '/proc/mdstat': fixture('../shared/storage-resources/fixtures/mdstat-raid1.txt') },
    commands: {
      'mdadm --detail /dev/md127': fixture('../agent/plugins/fixtures/mdadm-detail-clean.txt'),
      'zpool list -Hp -o name,guid,size,health': fixture(
        '../shared/storage-resources/fixtures/zpool-list-Hp.txt',
      ),
      'zfs list -Hp -t filesystem,volume -o name,guid,type,used,avail,volsize': fixture(
        '../shared/storage-resources/fixtures/zfs-list-Hp.txt',
      ),
    },
  };
  const agent = await startTestAgent(t, {
    stateRoot: dataDir,
    devicePlugins: {
      timings: { pollMs: 300, requestBackoffMs: 100, requestBackoffMaxMs: 400 },
      tickMs: 50,
      recorded,
    },
  });
  mkdirSync(pluginDir, { recursive: true });
  symlinkSync(EXAMPLE, join(pluginDir, 'example-controller.ts'));
  const m = await startManager(t, { dataDir, agent: agent.client, agentFeed: { intervalMs: 100 } });
  const svc = m.manager.svc;
  const hostUuid = String(svc.db.get('host', svc.hostRef())!.uuid);
  const root = agentRoot(hostUuid, 'linux');

  // A loop disk with ext4 mounted inside the agent's SR roots, and a VG on a second loop disk.
  const loops = await makeLoopStorage(t, 'e2eres', { mountPoint: join(dataDir, 'sr', 'disk') });
  Object.assign(recorded.commands!, smartOn(loops.fsLoop, true));

  const session = svc.sessions.validate(svc.sessions.localLogin('e2e-resources'));
  const call = (wire: string, ...args: unknown[]) => svc.call(session, wire, args) as Promise<any>;
  const sr = await call(
    'SR.create',
    svc.hostRef(),
    { location: join(loops.mountPoint, 'vms') },
    0,
    'disk-sr',
    '',
    'file',
    '',
    false,
    {},
  );
  const vdi = await call('VDI.create', vdiRecord(sr, 16 * MiB, { name_label: 'data' }));
  const vm = await call('VM.create', baseVmRecord({ name_label: 'resources-vm' }));
  await call('VBD.create', vbdRecord(vm, vdi));
  const vmUuid = await call('VM.get_uuid', vm);

  // The controller the example plugin talks to, and its root created through xe.
  arrays.set('e2e-array.example', {
    controllers: [
      { index: 0, status: 'OK' },
      { index: 1, status: 'OK' },
    ],
    shelves: [{ shelf: 0, fans: [3000] }],
    drives: [{ serial: 'E2E-D1', shelf: 0, bytes: 4e12, status: 'OK', celsius: 30 }],
    pools: [{ id: 1, raid: 'raid1', drives: ['E2E-D1'] }],
    luns: [{ id: 3, name: 'lun-three', serial: 'E2ELUN3', pool: 1, bytes: 1e12 }],
  });
  t.after(() => arrays.delete('e2e-array.example'));
  const created = await xe(m, [
    'storage-resource-root-create',
    'plugin=example-controller',
    'class=Couplet',
    'address_1=e2e-array.example',
    'address_2=e2e-array-b.example',
  ]);
  assert.equal(created.code, 0, created.stderr);

  // The host's resources arrive (loop drive, its mount under the SR, the VG; md and ZFS recorded).
  const store = () => m.manager.storageResources!.store.queries;
  const byAttr = (cls: string, key: string, value: unknown) =>
    store()
      .resourcesOfRoot(root)
      .filter((r) => r.class === `linux.${cls}`)
      .map((r) => store().resource(r.id)!)
      .find((r) => r.attributes[key] === value);
  const mount = await until('the mount', () => byAttr('LocalMount', 'mount_point', loops.mountPoint));
  await until('the VG', () => byAttr('LvmGroup', 'name', loops.vg));
  await until('the md array', () =>
    store()
      .resourcesOfRoot(root)
      .find((r) => r.class === 'linux.MdRaid'),
  );
  await until('the ZFS pool', () => byAttr('ZfsPool', 'name', 'tank'));
  const smart = await until('the SMART disk', () => byAttr('SmartDisk', 'serial', smartSda.serial_number));
  assert.deepEqual(
    m.manager.storageResources!.links!.srResources(sr),
    [mount.id],
    'the SR sits on the mount',
  );
  await until(
    'the controller scanned',
    () => store().resourcesOfClass('example-controller.HardDrive').length === 1 || undefined,
  );

  // The feed names the host's root once its session opened (its own commit).
  await until('the root named', () => store().resource(store().rootRecord(root)!)?.alias);
  const tree = await xe(m, ['storage-resource-tree']);
  assert.equal(tree.code, 0, tree.stderr);
  const lines = tree.stdout.split('\n');
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const depth = (i: number) => lines[i].length - lines[i].trimStart().length;
  const smartLine = at(/SmartDisk|SMART disk/);
  const driveLine = at(new RegExp(`${loops.fsLoop}\\b`));
  const mountLine = at(new RegExp(`${loops.mountPoint}\\b`));
  assert.ok(smartLine >= 0 && driveLine > smartLine && mountLine > driveLine, tree.stdout);
  assert.ok(depth(driveLine) > depth(smartLine) && depth(mountLine) > depth(driveLine), tree.stdout);
  for (const re of [
    /^\s+tank \[linux.ZfsPool\]/m,
    /E2E-D1/,
    /lun-three/,
    new RegExp(`${loops.vg} \\[linux.LvmGroup\\]`),
  ])
    assert.match(tree.stdout, re);

  // The disk fails: its alert reaches the mount, and the message names the SR and the VM.
  Object.assign(recorded.commands!, smartOn(loops.fsLoop, false));
  const message = await until('the alert message', () =>
    [...svc.db.all('message').values()].find(
      (r) => r.name === 'STORAGE_RESOURCE_ALERT' && String(r.body).includes('SMART health check failed'),
    ),
  );
  assert.equal(message.obj_uuid, hostUuid);
  assert.match(String(message.body), new RegExp(`affects_vm: resources-vm \\(${vmUuid}\\)`));
  assert.match(String(message.body), /affects_sr: disk-sr \(/);
  const alerts = await xe(m, ['storage-resource-alert-list']);
  assert.match(alerts.stdout, /SMART health check failed/);
  const smartUuid = (
    await xe(m, ['storage-resource-list', 'class=linux.SmartDisk', '--minimal'])
  ).stdout.trim();
  assert.ok(smartUuid, 'the SMART disk listed');
  const affected = await xe(m, ['storage-resource-affected', `uuid=${smartUuid}`]);
  assert.equal(affected.code, 0, affected.stderr);
  assert.match(affected.stdout, new RegExp(vmUuid));
  assert.ok(
    store()
      .activeAlerts(mount.id)
      .some((a) => a.resourceId === smart.id),
  );
});
