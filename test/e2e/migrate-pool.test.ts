// VM.pool_migrate with real guests in the namespace harness (issue 15, item 1): two hosts, a
// shared file SR over one directory, the test guest with a disk on it and a VIF on a pool
// network. It moves master → slave through the XenAPI and back through `xe vm-migrate`: each time
// resident_on changes, QEMU runs only on the destination, the guest's shell (its memory) answers
// on the destination's serial console, the task reaches progress 1 and event.from reports the VM.
// A slow migration (berth_bandwidth) cancelled with task.cancel leaves it running on the source.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { XenApiClient } from '../../src/clients/sdk/client.js';
import { defaultTemplates } from '../../src/manager/bootstrap/templates.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { tapName } from '../../src/shared/net/names.js';
import { killQemusUnder, typeLine } from '../agent/helpers/guest.js';
import { hostLive, type PoolHost, qemuCmdline, startHosts } from '../helpers/pool-harness.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';
import { ensureGuest, GUEST_DIR, waitFor } from '../helpers/stack.js';

const MiB = 1024 * 1024;

const consoleLog = (h: PoolHost, uuid: string) => {
  try {
    return readFileSync(join(h.logDir, 'vms', `${uuid}.log`), 'utf8');
  } catch {
    return '';
  }
};

/** Types `line` on the guest's serial console on host h; resolves once `re` appears after it. */
async function shell(h: PoolHost, uuid: string, line: string, re: RegExp, ms = 60_000): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const from = consoleLog(h, uuid).length;
    await typeLine(join(h.runDir, uuid, 'serial.sock'), line);
    try {
      await waitFor(
        () => re.test(consoleLog(h, uuid).slice(from)),
        ms / 4,
        `${re} on ${h.hostname}'s console`,
      );
      return;
    } catch (e) {
      if (attempt === 3) throw e; // a loaded TCG guest may drop a line's tail: type it again
    }
  }
}

/** Waits for the task to end; returns its record. */
async function settled(c: XenApiClient, task: string, ms: number) {
  await waitFor(
    async () => !['pending', 'cancelling'].includes(String(await c.call('task.get_status', task as never))),
    ms,
    'the task',
  );
  return (await c.call('task.get_record', task as never)) as unknown as Record<string, unknown>;
}

test('VM.pool_migrate moves a running guest between two hosts and back; a cancel leaves it', {
  timeout: 900_000,
}, async (t) => {
  await ensureGuest();
  const shared = mkdtempSync(join(tmpdir(), 'berth-pool-migrate-'));
  const pool = await startHosts(2, {
    t,
    networking: true,
    agentArgs: (h) => ['--sr-root', shared, '--sr-root', join(h.dataDir, 'sr')],
  });
  for (const h of pool.hosts) t.after(() => killQemusUnder(h.runDir));
  // The destination's QEMU (its own uid) reaches its migration socket dir under the run root.
  for (const d of [pool.dir, ...pool.hosts.map((h) => h.dir)]) chmodSync(d, 0o711);
  t.after(() => rmSync(shared, { recursive: true, force: true }));
  const [m, s] = pool.hosts;
  await (await s.client()).call('pool.join', m.address, 'root', m.rootPassword());
  const c = await m.client();
  const refOf = async (h: PoolHost) => {
    for (const ref of await c.call('host.get_all'))
      if ((await c.call('host.get_address', ref)) === h.address) return String(ref);
    throw new Error(`${h.hostname} is not in the pool`);
  };
  const [mRef, sRef] = [await refOf(m), await refOf(s)];
  await waitFor(async () => (await hostLive(c, mRef)) && hostLive(c, sRef), 60_000, 'two hosts live');

  // A shared SR, a disk on it, a pool network both hosts have, and the test guest using both.
  const location = join(shared, 'sr');
  const sr = String(
    await c.call('SR.create', mRef, { location }, 0, 'migrate SR', '', 'file', 'user', true, {}),
  );
  const vdi = await c.call('VDI.create', vdiRecord(sr, 16 * MiB, { name_label: 'migrating disk' }) as never);
  const net = await c.call('network.create', {
    name_label: 'migrate net',
    bridge: 'pmigbr0',
    other_config: { assume_network_is_shared: 'true' },
  } as never);
  const guest = defaultTemplates(GUEST_DIR)[0].record;
  const vm = await c.call('VM.create', baseVmRecord({ ...guest, name_label: 'migrant' }) as never);
  const uuid = String(await c.call('VM.get_uuid', vm));
  await c.call(
    'VBD.create',
    vbdRecord(vm, vdi, { userdevice: '1', bootable: false, unpluggable: true }) as never,
  );
  const vif = await c.call('VIF.create', {
    device: '0',
    network: net,
    VM: vm,
    MAC: '',
    MTU: 1500,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  } as never);
  t.after(() => c.call('VM.hard_shutdown', vm).catch(() => undefined));

  await c.call('VM.start_on', vm, mRef, false, false);
  await waitFor(() => consoleLog(m, uuid).includes('BERTH-GUEST-READY'), 180_000, 'the guest booted');
  // State only the guest's memory holds: a shell variable.
  await shell(m, uuid, 'MARK=mig$((6*7))', /MARK=mig/);

  /** Checks the VM runs on `h` only, answers there and remembers MARK. */
  const runsOn = async (h: PoolHost, ref: string, n: number) => {
    assert.equal(await c.call('VM.get_resident_on', vm), ref);
    assert.equal(await c.call('VM.get_power_state', vm), 'Running');
    assert.ok(qemuCmdline(h, uuid), `QEMU on ${h.hostname}`);
    for (const other of pool.hosts)
      if (other !== h)
        await waitFor(() => qemuCmdline(other, uuid) === undefined, 30_000, `no QEMU on ${other.hostname}`);
    await shell(h, uuid, `echo "round${n}-$MARK"`, new RegExp(`round${n}-mig42`));
    assert.equal(await c.call('VIF.get_currently_attached', vif), true);
    // The VIF's TAP is on the network's bridge here and gone from the other host.
    const tap = tapName(String(await c.call('VIF.get_uuid', vif)));
    const shown = await h.exec('ip', ['-j', 'link', 'show', 'dev', tap]);
    assert.equal(JSON.parse(shown.stdout)[0]?.master, 'pmigbr0', `${tap} on ${h.hostname}: ${shown.stderr}`);
    for (const other of pool.hosts)
      if (other !== h)
        assert.notEqual(
          (await other.exec('ip', ['link', 'show', 'dev', tap])).code,
          0,
          `${tap} left on ${other.hostname}`,
        );
    assert.equal(await c.call('VBD.get_currently_attached', (await c.call('VM.get_VBDs', vm))[0]), true);
  };

  // 1. master → slave through the XenAPI: the task reaches 1, event.from sees the move.
  const { token } = (await c.call('event.from', ['vm'], '', 0)) as { token: string };
  const task = String(await c.callAsync('VM.pool_migrate', vm, sRef, {}));
  const done = await settled(c, task, 300_000);
  assert.equal(done.status, 'success', JSON.stringify(done.error_info));
  assert.equal(done.progress, 1);
  const moved = (await c.call('event.from', ['vm'], token, 5)) as {
    events: { ref: string; snapshot?: Record<string, unknown> }[];
  };
  assert.ok(
    moved.events.some((e) => e.ref === vm && e.snapshot?.resident_on === sRef),
    'an event says the VM is resident on the slave',
  );
  await runsOn(s, sRef, 1);
  const consoles = (await c.call('VM.get_consoles', vm)) as string[];
  for (const con of consoles)
    assert.ok(
      String(await c.call('console.get_location', con as never)).includes(s.address),
      'console on the slave',
    );

  // 2. slave → master with xe (run on the slave, against the master).
  const mUuid = String(await c.call('host.get_uuid', mRef));
  const r = await s.xe(['vm-migrate', `uuid=${uuid}`, `host-uuid=${mUuid}`], m);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  await runsOn(m, mRef, 2);

  // 3. A migration slowed to 256 KiB/s, cancelled mid-way: still on the master, still answering.
  const slow = String(
    await c.callAsync('VM.pool_migrate', vm, sRef, { berth_bandwidth: String(256 * 1024) }),
  );
  await waitFor(
    async () => Number(await c.call('task.get_progress', slow as never)) > 0,
    60_000,
    'the slow migration under way',
  );
  await c.call('task.cancel', slow as never);
  const cancelled = await settled(c, slow, 120_000);
  assert.equal(cancelled.status, 'cancelled', JSON.stringify(cancelled.error_info));
  assert.deepEqual(await c.call('VM.get_current_operations', vm), {});
  await runsOn(m, mRef, 3);
});
