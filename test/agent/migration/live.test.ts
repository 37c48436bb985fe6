// Live migration between two real in-process agents on this machine (separate run roots), with
// the test guest: a migration aborted mid-way, one over a Unix socket, one over TLS refused for a
// certificate from another CA, and one over TLS with the pool's certificates. After each the
// guest answers on the serial console of the host it runs on; no QEMU is left on the other.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { IdRange } from '../../../src/agent/qemu/identity.js';
import type { IncomingMigration, MigrationStatus } from '../../../src/shared/host/migration.js';
import type { InstanceInfo } from '../../../src/shared/noded/instance.js';
import { makeMigrationCreds } from '../../../src/agent/migration/tls-creds.js';
import { HOST_KEY } from '../../../src/shared/pki/pool-pki.js';
import { type AgentHost, startTwoAgents, until } from './two-agents.js';
import { image, sameContent } from './mirror-qemu.js';
import { guest, logSize, pidAlive, spec, typeLine, waitForLog } from '../helpers/guest.js';

const VM = '5a1e0000-1111-4222-8333-4444555566ab';
const HOST_A = 'aaaa0000-1111-4222-8333-444455556601';
const HOST_B = 'bbbb0000-1111-4222-8333-444455556602';

type Host = AgentHost;

/** Matches a XenApiError with `code` (as the agent client re-raises it). */
const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c, String(e));
  return true;
};

const final = (s: MigrationStatus) => ['completed', 'failed', 'cancelled'].includes(s.phase);

/** Two agents with pool certificates from one CA (a second CA for refusals), and helpers. */
async function twoHosts(t: TestContext, ids?: { a: IdRange; b: IdRange }) {
  const g = guest();
  const { a, b, restart } = await startTwoAgents(t, {
    prefix: 'berth-migrate-agent',
    hostUuids: { a: HOST_A, b: HOST_B },
    ids,
  });
  const consoleLog = (h: Host) => join(h.dir, 'log', `${VM}.log`);
  /**
   * Types on the guest's console on `h` and waits for the answer in that host's console log. A
   * line is typed again if the first gets no answer: right after a switch-over TCG guests were
   * seen to echo the first 8 characters (the UART's FIFO trigger) and take the rest only with
   * the next input.
   */
  const answers = async (h: Host, tag: string) => {
    const from = logSize(consoleLog(h));
    const re = new RegExp(`${tag}-42`);
    await typeLine(join(h.dir, 'run', VM, 'serial.sock'), `echo ${tag}-$((6*7))`);
    try {
      await waitForLog(consoleLog(h), re, 15_000, from);
    } catch {
      await typeLine(join(h.dir, 'run', VM, 'serial.sock'), `echo ${tag}-$((6*7))`);
      await waitForLog(consoleLog(h), re, 30_000, from);
    }
  };
  const vmSpec = spec(VM, { kernel: g.kernel, initrd: g.initrd, cmdline: 'console=ttyS0 quiet' });
  const m = (h: Host) => h.client.migration;
  const migrate = async (
    from: Host,
    to: Host,
    address: string,
    params = { live: true, downtimeMs: 300, bandwidth: 0 },
    handOver = (t: IncomingMigration) => t,
  ) => {
    const target: IncomingMigration = await m(to).instance_migration_accept(vmSpec, { address, mirror: [] });
    await m(from).instance_migrate(VM, handOver(target), params);
    return target;
  };
  const finalStatus = (h: Host, uuid = VM) =>
    until('the end of the migration', async () => {
      const s = await m(h).instance_migration_status(uuid);
      return final(s) ? s : undefined;
    });

  return { a, b, restart, answers, vmSpec, m, migrate, finalStatus, consoleLog };
}

/** Boots the guest on `h` and waits until its shell answers. */
async function boot(env: Awaited<ReturnType<typeof twoHosts>>) {
  const { a, vmSpec, answers, consoleLog } = env;
  const started = await a.client.start(vmSpec);
  await waitForLog(consoleLog(a), /BERTH-GUEST-READY/, 120_000);
  await until('the guest shell', async () => {
    try {
      await answers(a, 'BOOT');
      return true;
    } catch {
      return false;
    }
  });
  return started;
}

test('live migration between two agents (per-VM QEMU ids): abort, restart, unix, TLS', {
  timeout: 600_000,
}, async (t) => {
  // Per-VM QEMU identities, production's default: QEMU reads its credentials as its own user.
  const env = await twoHosts(t, {
    a: { base: 1_950_000_000, count: 10 },
    b: { base: 1_950_000_100, count: 10 },
  });
  const { a, b, restart, answers, m, migrate, finalStatus, vmSpec } = env;
  const started = await boot(env);

  // 1. Aborted mid-way (1 MiB/s for 256 MiB: far from done): the source runs on, nothing on B.
  const t1 = await migrate(a, b, '', { live: true, downtimeMs: 300, bandwidth: 1024 * 1024 });
  assert.equal(t1.transport, 'unix');
  const inB = (await b.client.info(VM)) as InstanceInfo;
  assert.equal(inB.state, 'paused', 'the incoming VM is paused until finished');
  await until('some memory sent', async () => (await m(a).instance_migration_status(VM)).ramTransferred > 0);
  assert.equal((await m(a).instance_migration_status(VM)).phase, 'active');
  // Refusals meanwhile: the only copy is never ended, a VM migrates once, a uuid runs once, and
  // the RPC checks its arguments.
  await assert.rejects(m(a).instance_migration_finish_src(VM, true), code('VM_MIGRATE_FAILED'));
  await assert.rejects(
    m(a).instance_migrate(VM, t1, { live: true, downtimeMs: 300, bandwidth: 0 }),
    code('OPERATION_NOT_ALLOWED'),
  );
  await assert.rejects(
    m(a).instance_migration_accept(vmSpec, { address: '', mirror: [] }),
    code('VM_BAD_POWER_STATE'),
  );
  await assert.rejects(
    a.client.call('instance_migrate', [
      VM,
      { ...t1, socket: '/etc/shadow' },
      { live: true, downtimeMs: 300, bandwidth: 0 },
    ]),
    code('INVALID_VALUE'),
  );
  await assert.rejects(
    b.client.call('instance_migration_accept', [vmSpec, { address: '127.0.0.1,evil=1', mirror: [] }]),
    code('INVALID_VALUE'),
  );
  assert.equal((await m(a).instance_migration_status(VM)).phase, 'active', 'still migrating');
  await m(a).instance_migration_abort(VM);
  assert.equal((await m(a).instance_migration_status(VM)).phase, 'cancelled');
  await m(b).instance_migration_finish_dst(VM, false);
  await m(a).instance_migration_finish_src(VM, false); // idempotent after the abort
  assert.deepEqual(await b.client.list(), []);
  assert.ok(!pidAlive(inB.pid!), 'no QEMU left on the destination');
  assert.equal((await a.client.info(VM)).state, 'running');
  await answers(a, 'ABORTED');

  // 1b. Both agents restart during a migration: the new ones adopt both QEMUs as migrating, report
  // the status and abort it; the guest runs on at the source.
  await migrate(a, b, '', { live: true, downtimeMs: 300, bandwidth: 1024 * 1024 });
  await until('some memory sent', async () => (await m(a).instance_migration_status(VM)).ramTransferred > 0);
  const inB2 = (await b.client.info(VM)) as InstanceInfo;
  await restart(a);
  await restart(b);
  assert.equal((await a.client.info(VM)).state, 'running', 'adopted as running while migrating out');
  assert.equal((await b.client.info(VM)).state, 'paused', 'adopted as paused while migrating in');
  assert.equal((await m(a).instance_migration_status(VM)).phase, 'active');
  await m(a).instance_migration_abort(VM);
  await m(b).instance_migration_abort(VM); // the destination's abort: as finish_dst(false)
  assert.deepEqual(await b.client.list(), []);
  assert.ok(!pidAlive(inB2.pid!), 'no QEMU left on the destination');
  assert.equal((await a.client.info(VM)).state, 'running');
  await answers(a, 'RESTARTED');

  // 2. Over a Unix socket (same host), live, to the end.
  await migrate(a, b, '');
  const migDir = join(b.dir, 'run', VM, 'migration');
  assert.deepEqual(
    [statSync(migDir).uid, statSync(migDir).mode & 0o777],
    [1_950_000_100, 0o700],
    "the migration dir is the incoming QEMU user's",
  );
  const s2 = await finalStatus(a);
  assert.equal(s2.phase, 'completed', s2.error);
  assert.equal(s2.progress, 1);
  assert.ok(s2.downtimeMs !== undefined && s2.totalTimeMs !== undefined);
  // An abort that comes after the end of the stream (a cancel racing it) resumes nothing: the
  // source stays the migration's, to be finished (migrate-faults).
  await m(a).instance_migration_abort(VM);
  assert.equal((await m(a).instance_migration_status(VM)).phase, 'completed');
  const bInfo = await m(b).instance_migration_finish_dst(VM, true);
  assert.equal(bInfo.state, 'running');
  assert.ok(!existsSync(migDir));
  assert.equal(statSync(join(b.dir, 'run', VM)).mode & 0o777, 0o700, "the runtime dir is root's again");
  await m(a).instance_migration_finish_src(VM, true);
  assert.ok(!pidAlive(started.pid!), 'the source QEMU ended');
  assert.deepEqual(await a.client.list(), []);
  await answers(b, 'ON-B');
  // Finishing again changes nothing.
  assert.equal((await m(b).instance_migration_finish_dst(VM, true)).state, 'running');
  await m(a).instance_migration_finish_src(VM, true);
  await m(a).instance_migration_finish_src(VM, false);
  assert.ok(
    b.events.some((e) => e.uuid === VM && e.state === 'running' && e.reason === 'migrated-in'),
    'the destination tells the VM runs there',
  );
  assert.ok(
    !a.events.some((e) => e.uuid === VM && e.state === 'shutdown'),
    'no shutdown event from the source',
  );

  // 3. TLS where the source holds another migration's credentials (a client whose certificate
  // this destination's CA did not sign, which trusts another CA): refused, B runs on, no QEMU
  // left on A.
  const stranger = await makeMigrationCreds(VM, '127.0.0.1');
  const t3 = await migrate(b, a, '127.0.0.1', undefined, (t) => ({ ...t, tls: stranger }));
  assert.equal(t3.transport, 'tls');
  const s3 = await finalStatus(b);
  assert.equal(s3.phase, 'failed');
  await m(b).instance_migration_finish_src(VM, false);
  await m(a).instance_migration_finish_dst(VM, false);
  assert.deepEqual(await a.client.list(), []);
  assert.equal((await b.client.info(VM)).state, 'running');
  await answers(b, 'STILL-B');

  // 4. TLS with the migration's own credentials, not live (paused for the copy): the guest moves
  // back to A and runs there; no file of the host's pool key is in the VM's migration dir.
  const t4 = await migrate(b, a, '127.0.0.1', { live: false, downtimeMs: 300, bandwidth: 0 });
  const key = join(a.dir, 'run', VM, 'migration', 'server-key.pem');
  assert.deepEqual([statSync(key).uid, statSync(key).mode & 0o777], [1_950_000_000, 0o600]);
  assert.equal(readFileSync(key, 'utf8'), t4.tls?.key, "the migration's key, not the host's");
  assert.notEqual(readFileSync(key, 'utf8'), readFileSync(join(a.dir, 'pki', HOST_KEY), 'utf8'));
  assert.ok(t4.port >= 49152 && t4.port <= 49215);
  const s4 = await finalStatus(b);
  assert.equal(s4.phase, 'completed', s4.error);
  await m(a).instance_migration_finish_dst(VM, true);
  await m(b).instance_migration_finish_src(VM, true);
  assert.deepEqual(await b.client.list(), []);
  await answers(a, 'BACK-ON-A');
  await a.client.shutdown(VM, false, 10_000);
});

test('storage migration: a disk mirrored, then memory (unix, then TLS back)', {
  timeout: 300_000,
}, async (t) => {
  const env = await twoHosts(t);
  const { a, b, m, finalStatus } = env;
  const VM2 = '5a1e0000-1111-4222-8333-4444555566cd';
  const disk = (path: string) => ({ device: 'xvda', path, format: 'qcow2' as const, readonly: false });
  // A firmware-only VM held paused: the mirror and the switch-over, not the guest, are tested here.
  const specOn = (path: string) => spec(VM2, { startPaused: true, vnc: 'none', disks: [disk(path)] });
  mkdirSync(join(a.dir, 'state'), { recursive: true });
  mkdirSync(join(b.dir, 'state'), { recursive: true });
  const onA = image(join(a.dir, 'state', 'disk.qcow2'), '64M', [
    [0x5a, 0, 1024 * 1024],
    [0x6b, 40 * 1024 * 1024, 2 * 1024 * 1024],
  ]);
  const onB = image(join(b.dir, 'state', 'disk-new.qcow2'), '64M');
  const back = image(join(a.dir, 'state', 'disk-back.qcow2'), '64M');
  await a.client.start(specOn(onA));

  const move = async (from: Host, to: Host, address: string, dstPath: string) => {
    const target = await m(to).instance_migration_accept(specOn(dstPath), {
      address,
      mirror: [{ device: 'xvda' }],
    });
    assert.deepEqual(Object.keys(target.nbd?.exports ?? {}), ['xvda']);
    await m(from).instance_migrate(VM2, target, { live: true, downtimeMs: 300, bandwidth: 0 });
    const s = await finalStatus(from, VM2);
    assert.equal(s.phase, 'completed', s.error);
    assert.ok(s.diskTotal >= 64 * 1024 * 1024 && s.diskTransferred === s.diskTotal, JSON.stringify(s));
    assert.equal((await m(to).instance_migration_finish_dst(VM2, true)).state, 'paused', 'paused as it was');
    await m(from).instance_migration_finish_src(VM2, true);
    assert.deepEqual(await from.client.list(), []);
  };
  await move(a, b, '', onB);
  assert.ok(sameContent(onA, onB), 'the mirrored disk equals the source');
  await move(b, a, '127.0.0.1', back);
  assert.ok(sameContent(onA, back), 'and back over TLS');
  await a.client.shutdown(VM2, false, 10_000);
});
