// Storage migration between two real in-process agents (per-VM QEMU identities, as deployed) with
// the test guest: its disk, written by the guest before, is mirrored into an empty volume of the
// destination over TLS with the pool's certificates, memory follows, and the guest reads its data
// back on the destination (qemu-img compare: the new volume equals the old one at the switch);
// then back over a Unix socket into another fresh volume. Status shows the disk bytes; no QEMU is
// left on the source.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MigrationPhase, MigrationStatus } from '../../../src/shared/host/migration.js';
import type { InstanceSpec } from '../../../src/shared/noded/instance.js';
import { type AgentHost, startTwoAgents } from './two-agents.js';
import { guest, logSize, pidAlive, sleep, spec, typeLine, waitForLog } from '../helpers/guest.js';
import { image, sameContent } from './mirror-qemu.js';

const VM = '5a1e0000-1515-4222-8333-6d6972726f72';
const HOSTS = { a: 'aaaa0000-1515-4222-8333-444455556601', b: 'bbbb0000-1515-4222-8333-444455556602' };
const MiB = 1024 * 1024;

type Host = AgentHost;

test('storage migration: disk mirrored with the guest running, over TLS and back over Unix', {
  timeout: 600_000,
}, async (t) => {
  const g = guest();
  const base = 1_960_000_000 + randomInt(0, 10_000) * 100;
  const { a, b, restart } = await startTwoAgents(t, {
    prefix: 'berth-mirror-agent',
    hostUuids: HOSTS,
    ids: { a: { base, count: 10 }, b: { base: base + 50, count: 10 } },
  });
  for (const h of [a, b]) mkdirSync(join(h.dir, 'state', 'sr'), { recursive: true });
  const volume = (h: Host, name: string, writes: [number, number, number][] = []) =>
    image(join(h.dir, 'state', 'sr', name), '64M', writes);
  const vmSpec = (disk: string): InstanceSpec =>
    spec(VM, {
      kernel: g.kernel,
      initrd: g.initrd,
      cmdline: 'console=ttyS0 quiet',
      memoryBytes: 128 * MiB,
      memoryMaxBytes: 128 * MiB,
      disks: [{ device: 'xvda', path: disk, format: 'qcow2', readonly: false }],
    });
  const consoleLog = (h: Host) => join(h.dir, 'log', `${VM}.log`);
  const guestRun = async (h: Host, line: string, re: RegExp) => {
    for (let i = 0; ; i++) {
      const from = logSize(consoleLog(h));
      await typeLine(join(h.dir, 'run', VM, 'serial.sock'), line);
      try {
        return await waitForLog(consoleLog(h), re, 20_000, from);
      } catch (e) {
        if (i === 2) throw e;
      }
    }
  };
  const readMarker = (h: Host, tag: string) =>
    guestRun(
      h,
      `head -c 20 /dev/vda; echo; echo ${tag}-$((6*7))`,
      new RegExp(`BERTH-STORAGE-MIG-42\\s*\\r?\\n${tag}-42`),
    );

  /** Migrates VM from `from` (on disk `old`) to `to` onto its new volume `fresh`; returns phases seen. */
  const migrate = async (from: Host, to: Host, address: string, old: string, fresh: string) => {
    const target = await to.client.migration.instance_migration_accept(vmSpec(fresh), {
      address,
      mirror: [{ device: 'xvda' }],
    });
    assert.ok(target.nbd, 'the destination serves the mirrored disk');
    assert.deepEqual(target.nbd.exports, { xvda: 'xvda' });
    const srcPid = (await from.client.info(VM)).pid;
    await from.client.migration.instance_migrate(VM, target, { live: true, downtimeMs: 300, bandwidth: 0 });
    const phases = new Set<MigrationPhase>();
    let s: MigrationStatus;
    for (const deadline = Date.now() + 300_000; ; await sleep(20)) {
      s = await from.client.migration.instance_migration_status(VM);
      phases.add(s.phase);
      if (['completed', 'failed', 'cancelled'].includes(s.phase)) break;
      assert.ok(Date.now() < deadline, 'the migration ends');
    }
    assert.equal(s.phase, 'completed', s.error);
    assert.ok(s.diskTotal >= 64 * MiB && s.diskTransferred === s.diskTotal, JSON.stringify(s));
    assert.equal(s.progress, 1);
    const info = await to.client.migration.instance_migration_finish_dst(VM, true);
    assert.equal(info.state, 'running');
    await from.client.migration.instance_migration_finish_src(VM, true);
    assert.ok(!pidAlive(srcPid!), 'the source QEMU ended');
    assert.deepEqual(await from.client.call('instance_list', []), []);
    // The new volume equals the old at the switch (paused: QEMU flushed it).
    await to.client.call('instance_pause', [VM]);
    assert.ok(sameContent(old, fresh), 'the mirrored volume equals the source disk');
    await to.client.call('instance_unpause', [VM]);
    return phases;
  };

  const diskA = volume(a, 'vm.qcow2', [[0x5a, 8 * MiB, 4 * MiB]]);
  await a.client.call('instance_start', [vmSpec(diskA)]);
  await waitForLog(consoleLog(a), /BERTH-GUEST-READY/, 180_000);
  await guestRun(
    a,
    'echo BERTH-STORAGE-MIG-$((6*7)) | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo WROTE-42',
    /WROTE-42/,
  );

  // Aborted while the disk is mirrored (at 1 MiB/s): the guest runs on at A on its own disk, no
  // job or NBD node stays in A's QEMU, no QEMU on B.
  const abandoned = volume(b, 'vm-abandoned.qcow2');
  const t0 = await b.client.migration.instance_migration_accept(vmSpec(abandoned), {
    address: '127.0.0.1',
    mirror: [{ device: 'xvda' }],
  });
  const inB = await b.client.info(VM);
  await a.client.migration.instance_migrate(VM, t0, { live: true, downtimeMs: 300, bandwidth: MiB });
  for (const deadline = Date.now() + 60_000; ; await sleep(20)) {
    const s = await a.client.migration.instance_migration_status(VM);
    assert.equal(s.phase, 'mirroring', JSON.stringify(s));
    assert.equal(s.ramTransferred, 0, 'no memory before the disks are in sync');
    if (s.diskTransferred > 0) break;
    assert.ok(Date.now() < deadline, 'the mirror makes progress');
  }
  await a.client.migration.instance_migration_abort(VM);
  await b.client.migration.instance_migration_finish_dst(VM, false);
  await a.client.migration.instance_migration_finish_src(VM, false);
  assert.deepEqual(await b.client.call('instance_list', []), []);
  assert.ok(!pidAlive(inB.pid!), 'no QEMU left on B');
  assert.equal((await a.client.info(VM)).state, 'running');
  await a.agent.vms.withVm(VM, async (vm) => {
    const qmp = vm.requireQmp();
    assert.deepEqual(await qmp.command('query-jobs'), []);
    const nodes = await qmp.command<{ 'node-name': string }[]>('query-named-block-nodes');
    assert.ok(!nodes.some((n) => n['node-name'].startsWith('mnbd-')), 'no NBD client node left');
  });
  await readMarker(a, 'ABORTED');

  // The source agent restarts while mirroring: the new one adopts the VM as migrating out and
  // the storage migration goes on (migration.json); an abort then cleans up, the guest runs on.
  const t1 = await b.client.migration.instance_migration_accept(vmSpec(abandoned), {
    address: '127.0.0.1',
    mirror: [{ device: 'xvda' }],
  });
  await a.client.migration.instance_migrate(VM, t1, { live: true, downtimeMs: 300, bandwidth: MiB });
  assert.equal((await a.client.migration.instance_migration_status(VM)).phase, 'mirroring');
  await restart(a);
  const s1 = await a.client.migration.instance_migration_status(VM);
  assert.equal(s1.phase, 'mirroring', JSON.stringify(s1));
  assert.ok(s1.diskTotal > 0);
  await a.client.migration.instance_migration_abort(VM);
  await b.client.migration.instance_migration_finish_dst(VM, false);
  await a.client.migration.instance_migration_finish_src(VM, false);
  assert.equal((await a.client.info(VM)).state, 'running');
  await a.agent.vms.withVm(VM, async (vm) => {
    assert.deepEqual(await vm.requireQmp().command('query-jobs'), []);
  });
  await readMarker(a, 'RESTARTED');

  // A → B over TLS (B's NBD server on a port of MIGRATION_PORTS, the pool's certificates).
  const diskB = volume(b, 'vm-new.qcow2');
  const phases = await migrate(a, b, '127.0.0.1', diskA, diskB);
  assert.ok(!phases.has('none'), [...phases].join());
  await readMarker(b, 'ON-B');

  // B → A over a Unix socket, into another fresh volume.
  const diskA2 = volume(a, 'vm-back.qcow2');
  await migrate(b, a, '', diskB, diskA2);
  await readMarker(a, 'BACK-ON-A');
  await a.client.call('instance_shutdown', [VM, false]);
});
