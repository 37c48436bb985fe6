// Settling live migrations that did not end cleanly (src/manager/vm/migration-recovery.ts): the
// pure decision table, the journal, and the settlement against stand-in agents (a manager with
// its local agent and one remote host) through the reconnect hooks the manager uses.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type {
  MigrationPhase,
  MigrationProcedures,
  MigrationStatus,
} from '../../../src/shared/host/migration.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { parseConfig } from '../../../src/manager/config.js';
import { Manager } from '../../../src/manager/manager.js';
import { PoolMembers } from '../../../src/manager/pool/members.js';
import {
  chooseSurvivor,
  decide,
  guardMigration,
  MigrationJournal,
  type MigrationRecord,
  qemuState,
  type SideView,
  settleMigration,
  settlementNote,
  watchdogVerdict,
} from '../../../src/manager/vm/migration-recovery.js';
import { attachAgent } from '../../../src/manager/vm/reconcile.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { FakeAgent } from './fake-agent.js';

const rec = (over: Partial<MigrationRecord> = {}): MigrationRecord => ({
  id: 'j1',
  op: 'vm-migrate',
  vm: 'vm-uuid',
  source: 'OpaqueRef:src',
  destination: 'OpaqueRef:dst',
  phase: 'migrating',
  started: 0,
  ...over,
});
const down: SideView = { reachable: false };
const up = (qemu: 'running' | 'paused' | 'absent', migration: MigrationPhase = 'none'): SideView => ({
  reachable: true,
  qemu,
  migration,
});
const calls = (steps: { call: string; success?: boolean }[]) =>
  steps.map((s) => (s.success === undefined ? s.call : `${s.call}(${s.success})`));

test('decide: the destination holding the whole guest commits; anything less rolls back', () => {
  const commit = ['finish_dst(true)', 'switch_db', 'finish_src(true)'];
  // The destination's incoming migration completed (the source is paused post-migrate).
  let r = decide(rec(), up('paused', 'completed'), up('paused', 'completed'));
  assert.equal(r.outcome, 'commit');
  assert.deepEqual(calls(r.steps), commit);
  // The manager had decided to switch over (finish_dst(true) may have run: the guest runs there).
  r = decide(rec({ phase: 'switching' }), up('paused', 'completed'), up('running', 'none'));
  assert.deepEqual(calls(r.steps), commit);
  // The source sent everything and the destination's QEMU is there, waiting.
  assert.equal(decide(rec(), up('paused', 'completed'), up('paused', 'active')).outcome, 'commit');

  // Mid-way (the manager restarted while the guest was still copied): rolled back, abort first.
  r = decide(rec(), up('running', 'active'), up('paused', 'active'));
  assert.equal(r.outcome, 'rollback');
  assert.deepEqual(calls(r.steps), ['abort', 'finish_dst(false)', 'finish_src(false)']);
  assert.deepEqual(r.pending, []);
  // Already failed on the source (e.g. the destination was killed): nothing to abort.
  r = decide(rec(), up('running', 'failed'), up('absent'));
  assert.deepEqual(calls(r.steps), ['finish_dst(false)', 'finish_src(false)']);
  // Before the destination accepted: only clean-up calls, which are idempotent.
  r = decide(rec({ phase: 'accepting' }), up('running'), up('absent'));
  assert.equal(r.outcome, 'rollback');
  // The source sent everything but the destination's QEMU is gone: the source resumes.
  r = decide(rec(), up('paused', 'completed'), up('absent', 'failed'));
  assert.equal(r.outcome, 'rollback');
  assert.match(r.why, /destination's QEMU is gone/);
  // A running source wins over a destination that also runs (no switch-over was decided).
  assert.equal(decide(rec(), up('running'), up('running')).outcome, 'rollback');
});

test('decide: a host that does not answer gets its steps later, or nothing is done yet', () => {
  // Destination unreachable mid-way: the source aborts and resumes now, the destination's
  // QEMU is killed when its agent is back.
  let r = decide(rec(), up('running', 'active'), down);
  assert.equal(r.outcome, 'rollback');
  assert.deepEqual(calls(r.steps), ['abort', 'finish_src(false)']);
  assert.deepEqual(calls(r.pending), ['finish_dst(false)']);
  // Source unreachable, destination not complete: kill the destination now (its stream ends,
  // the source's QEMU resumes by itself); the source's finish waits for its agent.
  r = decide(rec(), down, up('paused', 'active'));
  assert.equal(r.outcome, 'rollback');
  assert.deepEqual(calls(r.steps), ['finish_dst(false)']);
  assert.deepEqual(calls(r.pending), ['finish_src(false)'], 'no abort is owed to a source');
  // Source unreachable, destination complete: commit now, the source's QEMU stops later.
  r = decide(rec(), down, up('paused', 'completed'));
  assert.equal(r.outcome, 'commit');
  assert.deepEqual(calls(r.steps), ['finish_dst(true)', 'switch_db']);
  assert.deepEqual(calls(r.pending), ['finish_src(true)']);
  // The source sent everything and the destination does not answer: it may run the guest.
  assert.equal(decide(rec(), up('paused', 'completed'), down).outcome, 'wait');
  assert.equal(decide(rec({ phase: 'switching' }), up('paused', 'device'), down).outcome, 'wait');
  assert.equal(decide(rec(), down, down).outcome, 'wait');
  // A record settled earlier: only its owed steps, whatever the hosts say now.
  r = decide(
    rec({ outcome: 'rollback', pending: [{ call: 'finish_dst', success: false }] }),
    up('running'),
    up('paused', 'failed'),
  );
  assert.deepEqual(calls(r.steps), ['finish_dst(false)']);
  assert.deepEqual(r.pending, []);
});

test('chooseSurvivor: the running copy beats a paused one, the resident one wins a tie', () => {
  assert.equal(chooseSurvivor('running', 'paused'), 'resident');
  assert.equal(chooseSurvivor('running', 'running'), 'resident');
  assert.equal(chooseSurvivor('paused', 'paused'), 'resident');
  assert.equal(chooseSurvivor('paused', 'running'), 'other');
  assert.equal(chooseSurvivor('absent', 'running'), 'other');
  assert.equal(chooseSurvivor('absent', 'paused'), 'resident', 'a paused leftover is never resumed');
  assert.equal(chooseSurvivor('unknown', 'running'), 'wait');
});

test('the journal survives a restart; records driven by this process are not left over', (t) => {
  const dir = join(tempDir(t, 'berth-migration-journal-'), 'j');
  const j = new MigrationJournal(dir);
  const a = j.begin('vm-a', 'OpaqueRef:s', 'OpaqueRef:d');
  const b = j.begin('vm-b', 'OpaqueRef:s', 'OpaqueRef:d');
  j.setPhase(a, 'switching');
  assert.deepEqual(j.pending(), [], 'both are being driven here');
  assert.ok(j.concerns('vm-a') && j.concerns('vm-b'));
  j.end(b);
  assert.ok(!j.concerns('vm-b'));
  const after = new MigrationJournal(dir).pending(); // a new process: nobody drives `a`
  assert.equal(after.length, 1);
  assert.equal(after[0].vm, 'vm-a');
  assert.equal(after[0].phase, 'switching');
  assert.equal(after[0].destination, 'OpaqueRef:d');
});

/** A stand-in agent whose migration procedures record their calls and report `phase`. */
function migratingAgent(host: string, log: string[]) {
  const agent = withoutStorage(new FakeAgent());
  const state = { phase: 'none' as MigrationPhase };
  const status = (): MigrationStatus => ({
    phase: state.phase,
    progress: 0,
    ramTotal: 0,
    ramTransferred: 0,
    ramRemaining: 0,
    diskTransferred: 0,
    diskTotal: 0,
  });
  const m: Partial<MigrationProcedures> = {
    instance_migration_status: async () => status(),
    instance_migration_abort: async (uuid) => {
      log.push(`${host}: abort`);
      state.phase = 'cancelled';
      const i = agent.instances.get(uuid);
      if (i) i.state = 'running';
    },
    instance_migration_finish_dst: async (uuid, ok) => {
      log.push(`${host}: finish_dst(${ok})`);
      if (ok) agent.instances.set(uuid, { uuid, state: 'running' });
      else agent.instances.delete(uuid);
      state.phase = 'none';
      return agent.info(uuid);
    },
    instance_migration_finish_src: async (uuid, ok) => {
      log.push(`${host}: finish_src(${ok})`);
      if (ok) agent.instances.delete(uuid);
      else if (agent.instances.get(uuid)) agent.instances.get(uuid)!.state = 'running';
      state.phase = 'none';
    },
  };
  (agent as unknown as { migration: Partial<MigrationProcedures> }).migration = m;
  return { agent, state };
}

const REMOTE = 'OpaqueRef:remote-migration-recovery';

async function until(what: string, cond: () => boolean) {
  const end = Date.now() + 10_000;
  while (!cond()) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A manager whose local agent is the source host and a remote stand-in the destination. */
async function pair(t: import('node:test').TestContext) {
  const dataDir = tempDir(t, 'berth-migration-recovery-');
  const config = parseConfig(
    ['--data-dir', dataDir, '--http-port', 'off', '--https-port', 'off', '--socket', join(dataDir, 'x.sock')],
    {},
  );
  const log: string[] = [];
  const src = migratingAgent('src', log);
  const m = await Manager.open(config, { timers: false, agent: src.agent, networking: false });
  t.after(() => m.close());
  const { svc, db } = m;
  const s = svc.sessions.validate(svc.sessions.localLogin());
  const vm = String(await svc.call(s, 'VM.create', [baseVmRecord({ name_label: 'moving' })]));
  const uuid = String(db.get('VM', vm)!.uuid);
  db.update('VM', vm, { power_state: 'Running', resident_on: svc.hostRef() });
  const dst = migratingAgent('dst', log);
  /** The VM's QEMU state on each host and, where given, that host's migration phase. */
  const copies = (
    [srcState, srcPhase]: [CopyState, MigrationPhase?],
    [dstState, dstPhase]: [CopyState, MigrationPhase?],
  ) => {
    src.agent.instances.set(uuid, { uuid, state: srcState });
    if (srcPhase) src.state.phase = srcPhase;
    dst.agent.instances.set(uuid, { uuid, state: dstState });
    if (dstPhase) dst.state.phase = dstPhase;
  };
  /** The destination's agent connects (again): the manager's reconnect hooks run. */
  const dstConnects = () => {
    attachAgent(svc, dst.agent, async () => undefined, REMOTE);
    dst.agent.reconnected();
  };
  const journalSettled = () =>
    until('the journal settled', () => svc.migrationJournal!.pending().length === 0);
  return { m, svc, db, vm, uuid, log, src, dst, dataDir, config, copies, dstConnects, journalSettled };
}

type CopyState = 'running' | 'paused';

test('a manager restarted mid-migration rolls it back once both agents answer', async (t) => {
  const { svc, db, vm, uuid, log, src, dst, copies, dstConnects, journalSettled } = await pair(t);
  // The guest is being copied: running on the source, an incoming QEMU waiting on the remote.
  copies(['running', 'active'], ['paused', 'active']);
  // The journal a previous process left (a fresh MigrationJournal on the same directory).
  const prev = new MigrationJournal(svc.migrationJournal!.dir);
  prev.begin(uuid, svc.hostRef(), REMOTE);
  // The remote's agent connects: the hook settles the migration it took part in.
  dstConnects();
  await journalSettled();
  assert.deepEqual(log, ['src: abort', 'dst: finish_dst(false)', 'src: finish_src(false)']);
  assert.equal(db.get('VM', vm)!.resident_on, svc.hostRef(), 'still resident on the source');
  assert.equal(db.get('VM', vm)!.power_state, 'Running');
  assert.equal((await dst.agent.info(uuid)).state, 'absent', 'no QEMU left on the destination');
  assert.equal((await src.agent.info(uuid)).state, 'running');
});

test('a completed migration whose manager died before the switch-over is committed', async (t) => {
  const { svc, db, vm, uuid, log, src, copies, dstConnects, journalSettled } = await pair(t);
  copies(['paused', 'completed'], ['paused', 'completed']);
  new MigrationJournal(svc.migrationJournal!.dir).begin(uuid, svc.hostRef(), REMOTE);
  dstConnects();
  await journalSettled();
  assert.deepEqual(log, ['dst: finish_dst(true)', 'src: finish_src(true)']);
  assert.equal(db.get('VM', vm)!.resident_on, REMOTE, 'resident on the destination now');
  assert.equal(db.get('VM', vm)!.power_state, 'Running');
  assert.equal((await src.agent.info(uuid)).state, 'absent', 'no QEMU left on the source');
});

test('a destination that cannot be reached gets its clean-up when its agent is back', async (t) => {
  const { svc, db, vm, uuid, log, dst, copies, dstConnects, journalSettled } = await pair(t);
  copies(['running', 'active'], ['paused', 'active']);
  // The migration flow failed (say, the link to the destination was cut) and hands over.
  const rec = svc.migrationJournal!.begin(uuid, svc.hostRef(), REMOTE);
  const r = await settleMigration(svc, svc.migrationJournal!, rec);
  assert.equal(r.outcome, 'rollback');
  assert.deepEqual(log, ['src: abort', 'src: finish_src(false)']);
  assert.equal(db.get('VM', vm)!.resident_on, svc.hostRef());
  const left = svc.migrationJournal!.pending();
  assert.equal(left.length, 1, 'the destination still owes its clean-up');
  assert.deepEqual(left[0].pending, [{ call: 'finish_dst', success: false }]);
  // The destination's agent comes back: the leftover QEMU goes.
  dstConnects();
  await journalSettled();
  assert.deepEqual(log.slice(2), ['dst: finish_dst(false)']);
  assert.equal((await dst.agent.info(uuid)).state, 'absent');
});

test('a commit whose destination cannot resume the guest turns into a rollback', async (t) => {
  const { svc, db, vm, uuid, log, src, dst, copies } = await pair(t);
  copies(['paused', 'completed'], ['paused', 'completed']);
  const finishDst = dst.agent.migration.instance_migration_finish_dst;
  dst.agent.migration.instance_migration_finish_dst = async (u, ok) => {
    if (ok) {
      log.push('dst: finish_dst(true) failed');
      throw new Error('QEMU cont failed');
    }
    return finishDst(u, ok);
  };
  svc.hosts.attach(REMOTE, dst.agent);
  const rec = svc.migrationJournal!.begin(uuid, svc.hostRef(), REMOTE);
  const r = await settleMigration(svc, svc.migrationJournal!, rec);
  assert.equal(r.outcome, 'rollback');
  assert.deepEqual(log, ['dst: finish_dst(true) failed', 'dst: finish_dst(false)', 'src: finish_src(false)']);
  assert.equal(db.get('VM', vm)!.resident_on, svc.hostRef());
  assert.equal((await src.agent.info(uuid)).state, 'running', 'the source resumed');
  assert.equal(svc.migrationJournal!.pending().length, 0);
});

test('a paused copy on another host with no migration journalled is stopped', async (t) => {
  const { svc, db, vm, uuid, log, dst, copies, dstConnects } = await pair(t);
  copies(['running'], ['paused']); // an incoming QEMU never resumed
  dstConnects();
  await until('the copy stopped', () => !dst.agent.instances.has(uuid));
  assert.deepEqual(log, ['dst: finish_dst(false)']);
  assert.equal(db.get('VM', vm)!.resident_on, svc.hostRef());
  assert.equal(db.get('VM', vm)!.power_state, 'Running');
});

test('a running copy beats a paused resident one: resident_on follows it', async (t) => {
  const { db, vm, uuid, log, src, copies, dstConnects } = await pair(t);
  copies(['paused'], ['running']); // post-migrate; resumed by finish_dst(true)
  dstConnects();
  await until('the switch-over', () => db.get('VM', vm)!.resident_on === REMOTE);
  await until('the source stopped', () => !src.agent.instances.has(uuid));
  assert.deepEqual(log, ['src: finish_src(true)']);
  assert.equal(db.get('VM', vm)!.power_state, 'Running');
});

test("a member's events speak only for the VMs resident on it", async (t) => {
  const { svc, db, vm, uuid, dst } = await pair(t);
  const host = db.get('host', svc.hostRef())!;
  const remote = db.create('host', { ...host, uuid: '66666666-6666-4666-8666-666666666666' });
  const members = new PoolMembers(
    svc,
    () => dst.agent,
    async () => undefined,
    60_000,
  );
  members.attach(remote);
  t.after(() => members.stop());
  // The destination's copy of a VM resident on the master dies (a migration failed): the VM
  // runs on, on the master.
  dst.agent.emit({ uuid, state: 'crashed', reason: 'qemu-exited' });
  assert.equal(db.get('VM', vm)!.power_state, 'Running');
  assert.equal(db.get('VM', vm)!.resident_on, svc.hostRef());
});

test('watchdogVerdict: a stalled stream or a destination gone too long ends the migration', () => {
  const limits = { stallMs: 10_000, peerGraceMs: 30_000 };
  assert.equal(watchdogVerdict(100_000, 95_000, 0, limits), undefined, 'bytes moved 5 s ago');
  assert.match(watchdogVerdict(100_000, 89_000, 0, limits) ?? '', /no data reached the destination for 10 s/);
  assert.equal(watchdogVerdict(100_000, 99_000, 80_000, limits), undefined, 'offline for 20 s only');
  assert.match(watchdogVerdict(100_000, 99_000, 60_000, limits) ?? '', /stopped answering for 30 s/);
});

test('settlementNote tells what the settlement left for later', () => {
  assert.equal(settlementNote(undefined), '');
  assert.equal(settlementNote({ outcome: 'rollback', steps: [], pending: [], why: '' }), '');
  assert.match(
    settlementNote({
      outcome: 'rollback',
      steps: [],
      pending: [{ call: 'finish_dst', success: false }],
      why: '',
    }),
    /the destination host is cleaned up once it answers again/,
  );
  assert.match(settlementNote({ outcome: 'wait', steps: [], pending: [], why: '' }), /paused on the source/);
  assert.match(
    settlementNote({ outcome: 'commit', steps: [], pending: [], why: '' }),
    /moved to the destination/,
  );
});

test('a guarded migration that could not clean a host up journals what it owes', async (t) => {
  const { svc, vm, uuid, log, src } = await pair(t);
  src.agent.instances.set(uuid, { uuid, state: 'running' });
  const hostUuid = String(svc.db.get('host', svc.hostRef())!.uuid);
  await assert.rejects(
    guardMigration(svc, vm, REMOTE, async (g) => {
      assert.equal(g.settles, true);
      assert.equal(svc.migrationJournal!.concerns(uuid), true, 'journalled before anything moves');
      g.owe('destination'); // the flow's finish_dst(false) found no agent there
      throw new XenApiError('VM_MIGRATE_FAILED', [uuid, hostUuid, '', 'Unable to write to socket']);
    }),
    (e: XenApiError) =>
      e.code === 'VM_MIGRATE_FAILED' &&
      /^Unable to write to socket; the destination host is cleaned up once it answers again$/.test(
        String(e.params[3]),
      ),
  );
  assert.deepEqual(log, [], 'the flow rolled back itself: nothing asked again');
  const left = svc.migrationJournal!.pending();
  assert.equal(left.length, 1);
  assert.deepEqual(left[0].pending, [{ call: 'finish_dst', success: false }]);
  // A failure that owes nothing, and a success, are forgotten at once.
  await assert.rejects(guardMigration(svc, vm, REMOTE, async () => Promise.reject(new Error('refused'))));
  assert.equal(await guardMigration(svc, vm, REMOTE, async () => 'done'), 'done');
  assert.equal(svc.migrationJournal!.pending().length, 1, 'only the one that owes is left');
});

test('a guarded migration whose finish_dst(true) failed asks both hosts before anything resumes', async (t) => {
  const { svc, db, vm, uuid, log, dst, copies } = await pair(t);
  copies(['running', 'completed'], ['paused', 'completed']); // migrating out: listed as running
  svc.hosts.attach(REMOTE, dst.agent);
  await assert.rejects(
    guardMigration(svc, vm, REMOTE, async (g) => {
      g.switching();
      throw new XenApiError('VM_MIGRATE_FAILED', [
        uuid,
        '',
        '',
        'the destination did not take over: timeout',
      ]);
    }),
    (e: XenApiError) => /moved to the destination after all$/.test(String(e.params[3])),
  );
  assert.deepEqual(log, ['dst: finish_dst(true)', 'src: finish_src(true)']);
  assert.equal(db.get('VM', vm)!.resident_on, REMOTE);
  assert.equal(svc.migrationJournal!.pending().length, 0);
});

test("qemuState: a migration's source that sent everything is paused, whatever its agent lists", () => {
  const running = { uuid: 'u', state: 'running' as const };
  assert.equal(qemuState(running, 'completed', true), 'paused');
  assert.equal(qemuState(running, 'device', true), 'paused');
  assert.equal(qemuState(running, 'active', true), 'running');
  // A destination that finished is an ordinary running VM (its QEMU still says completed).
  assert.equal(qemuState(running, 'completed', false), 'running');
  assert.equal(qemuState({ uuid: 'u', state: 'paused' }, 'active', false), 'paused');
  assert.equal(qemuState({ uuid: 'u', state: 'absent' }, 'active', false), 'paused', 'incoming, unlisted');
  assert.equal(qemuState({ uuid: 'u', state: 'absent' }, 'failed', false), 'absent');
});

test('a completed stream whose manager died is committed though the source lists the guest running', async (t) => {
  const { svc, db, vm, uuid, log, copies, dstConnects, journalSettled } = await pair(t);
  copies(['running', 'completed'], ['paused', 'completed']); // the agent's view while migrating out
  new MigrationJournal(svc.migrationJournal!.dir).begin(uuid, svc.hostRef(), REMOTE);
  dstConnects();
  await journalSettled();
  assert.deepEqual(log, ['dst: finish_dst(true)', 'src: finish_src(true)']);
  assert.equal(db.get('VM', vm)!.resident_on, REMOTE);
});
