// The pool master feeding its hosts' agent device plugins into the resource store: a real manager
// with a real agent running the real `linux` device plugin on this machine's loop devices (an
// ext4 mount, a VG), smartctl's report for the loop device recorded (no SMART disk here).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import type { RecordedOutputs } from '../../../src/agent/storage-resources/gather-io.js';
import type { Manager } from '../../../src/manager/manager.js';
import { agentRoot } from '../../../src/manager/storage-resources/agent-feed/roots.js';
import { runChecked } from '../../../src/shared/exec.js';
import { makeLoopStorage } from '../../helpers/loop-storage.js';
import { startManager } from '../../helpers/manager.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';

const smartFixture = JSON.parse(
  readFileSync(new URL('../../agent/plugins/fixtures/smartctl-sda-sat.json', import.meta.url), 'utf8'),
);
const FAST = { timings: { pollMs: 200, requestBackoffMs: 100, requestBackoffMaxMs: 400 }, tickMs: 50 };

async function until<T>(f: () => T | undefined | Promise<T | undefined>, what: string, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** smartctl's recorded sda report, as if read through `dev`, with the health check `passed`. */
function smartOn(dev: string, passed: boolean): Record<string, string> {
  return {
    'smartctl --scan': `${dev} -d sat # ${dev} [SAT], ATA device\n`,
    [`smartctl -j -a -d sat ${dev}`]: JSON.stringify({
      ...smartFixture,
      device: { ...smartFixture.device, name: dev },
      smart_status: { passed },
    }),
  };
}

async function feedManager(t: TestContext, recorded: RecordedOutputs) {
  const dataDir = tempDir(t);
  const a = await startTestAgent(t, { stateRoot: dataDir, devicePlugins: { ...FAST, recorded } });
  const m = await startManager(t, { dataDir, agent: a.client, agentFeed: { intervalMs: 100 } });
  const hostUuid = String(m.manager.db.get('host', m.manager.svc.hostRef())!.uuid);
  return { m, a, hostUuid, root: agentRoot(hostUuid, 'linux') };
}

function store(manager: Manager) {
  return manager.storageResources!.store;
}

/** The record of `cls` in `root` whose attribute `key` is `value`. */
function find(manager: Manager, root: string, cls: string, key: string, value: unknown) {
  const q = store(manager).queries;
  return q
    .resourcesOfRoot(root)
    .filter((r) => r.class === `linux.${cls}`)
    .map((r) => q.resource(r.id)!)
    .find((r) => r.attributes[key] === value);
}

test('a host agent feeds its loop device, mount and VG; a failing SMART disk alerts down to the mount', async (t) => {
  const loops = await makeLoopStorage(t, 'feedmgr');
  const recorded: RecordedOutputs = { commands: smartOn(loops.fsLoop, true) };
  const { m, root, hostUuid } = await feedManager(t, recorded);
  const drive = await until(
    () => find(m.manager, root, 'UnsharedDevice', 'path', loops.fsLoop),
    'the loop drive',
  );
  const mount = await until(
    () => find(m.manager, root, 'LocalMount', 'mount_point', loops.mountPoint),
    'the mount',
  );
  const vg = await until(() => find(m.manager, root, 'LvmGroup', 'name', loops.vg), 'the VG');
  const q = store(m.manager).queries;
  assert.deepEqual(q.parents(mount.id), [drive.id], 'the mount sits on the loop drive');
  const pvDrive = find(m.manager, root, 'UnsharedDevice', 'path', loops.pvLoop)!;
  assert.deepEqual(q.parents(vg.id), [pvDrive.id], "the VG sits on its PV's drive");
  const disk = find(m.manager, root, 'SmartDisk', 'serial', smartFixture.serial_number)!;
  assert.ok(q.parents(drive.id).includes(disk.id), 'the SMART disk affects the loop drive');
  // The root is named right after its session opened (a separate commit: wait for it).
  const rootRecord = await until(() => {
    const r = q.resource(q.rootRecord(root)!)!;
    return r.alias ? r : undefined;
  }, 'the root named');
  assert.equal(rootRecord.class, 'linux.PluginAgentResources');
  assert.equal(
    rootRecord.alias,
    `linux plugin on ${m.manager.db.get('host', m.manager.svc.hostRef())!.name_label}`,
  );
  assert.equal(q.activeAlerts(mount.id).length, 0);

  // The disk fails: the next DATA carries the new smartctl output only (the rest is unchanged).
  Object.assign(recorded.commands!, smartOn(loops.fsLoop, false));
  const alert = await until(
    () => q.activeAlerts(mount.id).find((a) => a.alertClass === '_None_health_40'),
    'the SMART alert on the mount',
  );
  assert.equal(alert.resourceId, disk.id);
  assert.match(alert.message, /^SMART health check failed \(SMART disk /);
  assert.ok(q.activeAlerts(drive.id).some((a) => a.id === alert.id));
  // …and as a XenAPI message on the host.
  const msg = await until(
    () =>
      [...m.manager.db.all('message').values()].find(
        (r) => r.name === 'STORAGE_RESOURCE_ALERT' && String(r.body).startsWith('SMART health check failed'),
      ),
    'the alert message',
  );
  assert.equal(msg.obj_uuid, hostUuid);
  assert.equal(msg.cls, 'Host');
  assert.equal(msg.priority, 2);
});

test('a lost DATA (a take that never arrived) resets the session; the data stays', async (t) => {
  const loops = await makeLoopStorage(t, 'feedgap');
  const { m, a, root } = await feedManager(t, {});
  const feed = m.manager.agentFeed!;
  await until(() => find(m.manager, root, 'UnsharedDevice', 'path', loops.fsLoop), 'the loop drive');
  const before = feed.sessions().get(root)!;
  // Take the agent's messages away from the master until a DATA is lost.
  await until(async () => {
    const taken = await a.client.devicePlugins.device_plugin_take();
    return taken.some((x) => x.type === 'DATA' && x.session_id === before.id) || undefined;
  }, 'a DATA taken away');
  await until(() => feed.counters.resets > 0 || undefined, 'the reset');
  const after = await until(() => {
    const s = feed.sessions().get(root);
    return s && s.id !== before.id ? s : undefined;
  }, 'a new session');
  assert.ok(after.seq >= 0);
  assert.ok(find(m.manager, root, 'LocalMount', 'mount_point', loops.mountPoint), 'resources kept');
  assert.equal(
    store(m.manager).queries.alerts({ active: true, root }).length,
    0,
    'no offline alert for a gap',
  );
});

test('plugin exceptions (agent side, manager side) end the session offline; the next one recovers', async (t) => {
  const loops = await makeLoopStorage(t, 'feedexc');
  const recorded: RecordedOutputs = { commands: {} };
  const { m, root } = await feedManager(t, recorded);
  const q = store(m.manager).queries;
  await until(() => find(m.manager, root, 'UnsharedDevice', 'path', loops.fsLoop), 'the loop drive');
  const offline = () => q.alerts({ active: true, root }).find((x) => x.kind === 'offline');

  // Agent side: smartctl answers garbage; the smartctl plugin code throws on the agent.
  Object.assign(recorded.commands!, {
    'smartctl --scan': `${loops.fsLoop} -d sat # x\n`,
    [`smartctl -j -a -d sat ${loops.fsLoop}`]: 'not json',
  });
  const down = await until(offline, 'the offline alert');
  assert.equal(down.message, `${q.resource(q.rootRecord(root)!)!.alias} not contactable`);
  for (const k of Object.keys(recorded.commands!)) delete recorded.commands![k];
  await until(() => !offline() || undefined, 'contact re-established');

  // Manager side: lsblk's answer does not parse there (the agent only gathers it).
  const failures = m.manager.agentFeed!.counters.failures;
  recorded.commands!['lsblk --json --bytes --output NAME,PATH,MAJ:MIN,TYPE,SIZE,SERIAL,FSTYPE'] =
    '{"blockdevices": 5}';
  await until(() => m.manager.agentFeed!.counters.failures > failures || undefined, 'the failure');
  await until(offline, 'the offline alert again');
  // The resources stayed as last reported (no culling from a bad report).
  assert.ok(find(m.manager, root, 'LocalMount', 'mount_point', loops.mountPoint));
  delete recorded.commands!['lsblk --json --bytes --output NAME,PATH,MAJ:MIN,TYPE,SIZE,SERIAL,FSTYPE'];
  await until(() => !offline() || undefined, 'contact re-established again');
});

test("a host removed from the pool takes its roots; another host's (and shared globals) stay", async (t) => {
  const loops = await makeLoopStorage(t, 'feedrm');
  const { m, root } = await feedManager(t, {});
  const svc = m.manager.svc;
  // A second member whose agent (another real one on this machine) reports the same VG.
  const other = svc.db.create('host', { uuid: randomUUID(), name_label: 'other', address: '192.0.2.9' });
  const otherAgent = await startTestAgent(t, { devicePlugins: FAST });
  otherAgent.client.connect();
  svc.hosts.attach(other, otherAgent.client);
  const otherRoot = agentRoot(String(svc.db.get('host', other)!.uuid), 'linux');
  const vg = await until(
    () => find(m.manager, otherRoot, 'LvmGroup', 'name', loops.vg),
    "the other host's VG",
  );
  await until(() => find(m.manager, root, 'LvmGroup', 'name', loops.vg), "this host's VG");
  assert.deepEqual(store(m.manager).queries.resource(vg.id)!.reportedBy.sort(), [otherRoot, root].sort());
  const otherMount = find(m.manager, otherRoot, 'LocalMount', 'mount_point', loops.mountPoint)!;

  // host.destroy / pool.eject: the record goes, the client is detached.
  svc.hosts.detach(other);
  svc.db.destroy('host', other);
  await until(() => !store(m.manager).queries.roots().includes(otherRoot) || undefined, 'the root removed');
  const q = store(m.manager).queries;
  assert.equal(q.resource(otherMount.id), undefined, 'its scoped resources went with it');
  assert.deepEqual(q.resource(vg.id)!.reportedBy, [root], 'the shared VG stays, reported by this host');
  assert.ok(find(m.manager, root, 'LocalMount', 'mount_point', loops.mountPoint));
});

test('an unreachable agent: its root goes offline once its session is lost', async (t) => {
  await makeLoopStorage(t, 'feedoff');
  const { m, a, root } = await feedManager(t, {});
  const q = store(m.manager).queries;
  await until(() => m.manager.agentFeed!.sessions().get(root), 'a session');
  await a.agent.close();
  const down = await until(
    () => q.alerts({ active: true, root }).find((x) => x.kind === 'offline'),
    'the offline alert',
  );
  assert.match(down.message, / not contactable$/);
  assert.equal(m.manager.agentFeed!.sessions().has(root), false);
});

test('what the host no longer has is culled at the next update (unmounted filesystem)', async (t) => {
  const loops = await makeLoopStorage(t, 'feedcull');
  const { m, root } = await feedManager(t, {});
  const mount = await until(
    () => find(m.manager, root, 'LocalMount', 'mount_point', loops.mountPoint),
    'the mount',
  );
  const drive = find(m.manager, root, 'UnsharedDevice', 'path', loops.fsLoop)!;
  const session = m.manager.agentFeed!.sessions().get(root)!;
  await runChecked('umount', [loops.mountPoint]);
  await until(
    () => store(m.manager).queries.resource(mount.id) === undefined || undefined,
    'the mount culled',
  );
  assert.ok(store(m.manager).queries.resource(drive.id), 'the drive stays');
  assert.equal(m.manager.agentFeed!.sessions().get(root)?.id, session.id, 'same agent session');
  assert.equal(store(m.manager).queries.alerts({ active: true, root }).length, 0);
});

test('recorded md and ZFS outputs (no md, no ZFS here) go through the agent into the store', async (t) => {
  const fx = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');
  const { m, root } = await feedManager(t, {
    files: { '/proc/mdstat': fx('../../shared/storage-resources/fixtures/mdstat-raid1.txt') },
    commands: {
      'mdadm --detail /dev/md127': fx('../../agent/plugins/fixtures/mdadm-detail-clean.txt'),
      'zpool list -Hp -o name,guid,size,health': fx(
        '../../shared/storage-resources/fixtures/zpool-list-Hp.txt',
      ),
      'zfs list -Hp -t filesystem,volume -o name,guid,type,used,avail,volsize': fx(
        '../../shared/storage-resources/fixtures/zfs-list-Hp.txt',
      ),
    },
  });
  const md = await until(() => mdOf(m.manager, root), 'the md array');
  assert.equal(md.attributes.size, 52428672 * 1024);
  const pool = await until(() => find(m.manager, root, 'ZfsPool', 'name', 'tank'), 'the pool');
  const vol = find(m.manager, root, 'ZfsVol', 'name', 'tank/vol0')!;
  assert.deepEqual(store(m.manager).queries.parents(vol.id), [pool.id]);
  const node = find(m.manager, root, 'LinuxDeviceNode', 'path', '/dev/zvol/tank/vol0')!;
  assert.deepEqual(store(m.manager).queries.parents(node.id), [vol.id]);
});

function mdOf(manager: Manager, root: string) {
  const q = store(manager).queries;
  const r = q.resourcesOfRoot(root).find((x) => x.class === 'linux.MdRaid');
  return r ? q.resource(r.id) : undefined;
}
