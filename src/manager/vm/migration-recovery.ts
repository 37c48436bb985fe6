// What becomes of a live migration that did not end cleanly (issue 15, failure handling). A
// migration is journalled (vm, source, destination, phase) before the destination accepts and
// cleared once it has finished either way; a migration that fails, is cancelled, or outlives the
// manager that drove it is settled from what both agents say now:
//
//   - the destination holds the whole guest (its incoming migration completed, or the manager had
//     already decided to switch over) → commit: finish_dst(true), the database switch-over,
//     finish_src(true);
//   - otherwise → roll back: abort on the source if its migration still runs, finish_dst(false),
//     finish_src(false). The guest runs on where it ran.
//
// A host that cannot be reached keeps its step in the journal until its agent reconnects (a
// destination QEMU left behind is killed then, a source left paused resumes then). When neither
// outcome is safe yet (the source has sent everything, the destination is unreachable: it may or
// may not be running the guest) nothing is done until one of them answers: a guest paused on one
// host is better than one running on two. `decide` and `chooseSurvivor` are pure; the rest runs
// their plans through svc.hosts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isXenApiError, XenApiError } from '../../shared/errors.js';
import type { MigrationPhase, MigrationStatus } from '../../shared/host/migration.js';
import { Journal, writeDurably } from '../../shared/journal.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { HostAgent, InstanceInfo } from './host-agent.js';
import { setPowerState } from './vm-state.js';

const log = logger('migration-recovery');

/** How far the manager got: before/while the destination accepts, migrating, switching over. */
export type JournalPhase = 'accepting' | 'migrating' | 'switching';

export type Side = 'source' | 'destination';

/** One agent call (or the database switch-over) of a settlement plan. */
export type Step =
  | { call: 'abort' } // source: instance_migration_abort
  | { call: 'finish_dst'; success: boolean } // destination
  | { call: 'finish_src'; success: boolean } // source
  | { call: 'switch_db' }; // resident_on := destination

export const stepSide = (s: Step): Side | 'db' =>
  s.call === 'finish_dst' ? 'destination' : s.call === 'switch_db' ? 'db' : 'source';

export interface MigrationRecord {
  /** Journal entry id. */
  id: string;
  op: 'vm-migrate';
  /** The VM's uuid (refs are not stable across a database restore; uuids are). */
  vm: string;
  /** Host refs. */
  source: string;
  destination: string;
  phase: JournalPhase;
  /** Set once settled while a host was unreachable: the steps still owed to it. */
  outcome?: 'commit' | 'rollback';
  pending?: Step[];
  /** Milliseconds since the epoch. */
  started: number;
}

/** What one host's agent says about the VM now (`reachable: false`: it could not be asked). */
export type SideView =
  | { reachable: false }
  | {
      reachable: true;
      /** The VM's QEMU on that host: running, paused (e.g. post-migrate, or waiting), or none. */
      qemu: 'running' | 'paused' | 'absent';
      /** instance_migration_status there ('none' when it has no migration of the VM). */
      migration: MigrationPhase;
    };

export interface Resolution {
  outcome: 'commit' | 'rollback' | 'wait';
  /** Steps to run now, in order (their hosts answered). */
  steps: Step[];
  /** Steps owed to a host that did not answer: kept in the journal until it reconnects. */
  pending: Step[];
  /** Why, in words (logs, the task's error). */
  why: string;
}

const IN_FLIGHT: ReadonlySet<MigrationPhase> = new Set(['mirroring', 'setup', 'active', 'device']);

/** Steps of an outcome, split by whether their host answered (pure). */
function plan(
  outcome: 'commit' | 'rollback',
  all: Step[],
  reachable: Record<Side, boolean>,
  why: string,
): Resolution {
  const steps: Step[] = [];
  const pending: Step[] = [];
  for (const s of all) {
    const side = stepSide(s);
    if (side === 'db' || reachable[side]) steps.push(s);
    // An abort is only useful while the stream runs: a source that comes back later has
    // nothing left to abort (its QEMU's migration failed or finished meanwhile).
    else if (s.call !== 'abort') pending.push(s);
  }
  return { outcome, steps, pending, why };
}

const COMMIT: Step[] = [
  { call: 'finish_dst', success: true },
  { call: 'switch_db' },
  { call: 'finish_src', success: true },
];

function rollbackSteps(src: SideView): Step[] {
  const abort = src.reachable && IN_FLIGHT.has(src.migration) ? [{ call: 'abort' } as Step] : [];
  // The destination first: killing it ends a stream the source could not be told to stop.
  return [...abort, { call: 'finish_dst', success: false }, { call: 'finish_src', success: false }];
}

/**
 * The settlement of journalled migration `rec` from what both agents say now (pure). A record
 * already settled (`outcome`) keeps its outcome: only its pending steps remain.
 */
export function decide(rec: MigrationRecord, src: SideView, dst: SideView): Resolution {
  const reachable = { source: src.reachable, destination: dst.reachable };
  if (rec.outcome) return plan(rec.outcome, rec.pending ?? [], reachable, `settled earlier (${rec.outcome})`);
  // The live one wins: a source whose guest still runs (its migration unfinished) keeps it.
  if (src.reachable && src.qemu === 'running' && rec.phase !== 'switching')
    return plan('rollback', rollbackSteps(src), reachable, 'the guest still runs on the source');
  if (dst.reachable) {
    const dstHolds =
      dst.qemu !== 'absent' &&
      (dst.migration === 'completed' ||
        dst.qemu === 'running' || // only finish_dst(true) resumes a destination
        rec.phase === 'switching' ||
        (src.reachable && src.migration === 'completed'));
    if (dstHolds) return plan('commit', COMMIT, reachable, 'the destination received the whole guest');
    const why = !src.reachable
      ? 'the source cannot be reached'
      : dst.qemu === 'absent'
        ? "the destination's QEMU is gone"
        : 'the migration did not complete';
    return plan('rollback', rollbackSteps(src), reachable, why);
  }
  // The destination does not answer.
  if (!src.reachable) return { outcome: 'wait', steps: [], pending: [], why: 'neither host answers' };
  if (src.migration === 'completed' || rec.phase === 'switching')
    return {
      outcome: 'wait',
      steps: [],
      pending: [],
      why: 'the source sent the whole guest and the destination does not answer: it may run it',
    };
  return plan('rollback', rollbackSteps(src), reachable, 'the destination cannot be reached');
}

/** A QEMU of the VM as one host's agent reports it (`unknown`: that agent did not answer). */
export type QemuView = 'running' | 'paused' | 'absent' | 'unknown';

/**
 * A VM found alive on `other`, a host it is not resident on, with no migration journalled for it
 * (pure): which QEMU stays. The running one beats a paused one (a paused copy is a migration's
 * leftover: the post-migrate source or an incoming destination never resumed); between equals the
 * resident one stays. 'wait' when the resident host does not answer.
 */
export function chooseSurvivor(
  resident: QemuView,
  other: 'running' | 'paused',
): 'resident' | 'other' | 'wait' {
  if (resident === 'unknown') return 'wait';
  if (resident === 'absent') return other === 'running' ? 'other' : 'resident';
  if (resident === 'paused' && other === 'running') return 'other';
  return 'resident';
}

/** The journal of migrations in flight, in the manager's data directory. */
export class MigrationJournal {
  private readonly journal: Journal;
  /** Records this process is driving (a reconnect must not settle a migration still running). */
  private readonly driving = new Set<string>();
  /** Settlements in progress, one at a time per record. */
  private readonly settling = new Map<string, Promise<Resolution>>();

  constructor(readonly dir: string) {
    this.journal = new Journal(dir);
  }

  /** Writes the intent before the destination is asked to accept. */
  begin(vm: string, source: string, destination: string): MigrationRecord {
    const intent = this.journal.begin('vm-migrate', {
      vm,
      source,
      destination,
      phase: 'accepting',
      started: Date.now(),
    });
    const rec = intent as unknown as MigrationRecord;
    this.driving.add(rec.id);
    return rec;
  }

  /** Records a new phase (durably: 'switching' must be on disk before finish_dst(true)). */
  setPhase(rec: MigrationRecord, phase: JournalPhase): void {
    rec.phase = phase;
    this.write(rec);
  }

  /** The migration ended cleanly either way: forgets it. */
  end(rec: MigrationRecord): void {
    this.driving.delete(rec.id);
    this.journal.end({ ...rec });
  }

  /** Records left by migrations no process is driving now (after a failure or a restart). */
  pending(): MigrationRecord[] {
    return (this.journal.pending() as unknown as MigrationRecord[]).filter(
      (r) => r.op === 'vm-migrate' && !this.driving.has(r.id),
    );
  }

  /** Whether a journalled migration (driven here or left over) concerns VM `uuid`. */
  concerns(uuid: string): boolean {
    return (this.journal.pending() as unknown as MigrationRecord[]).some((r) => r.vm === uuid);
  }

  /** Gives up driving `rec` (its settlement is the recovery's from now on). */
  release(rec: MigrationRecord): void {
    this.driving.delete(rec.id);
  }

  write(rec: MigrationRecord): void {
    writeDurably(join(this.dir, `${rec.id}.json`), JSON.stringify(rec));
  }

  /** The record as the journal holds it now (undefined once forgotten). */
  current(id: string): MigrationRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as MigrationRecord;
    } catch {
      return undefined;
    }
  }

  /** Runs `fn` for `rec` unless a settlement of it is already running (then waits for that one). */
  once(rec: MigrationRecord, fn: () => Promise<Resolution>): Promise<Resolution> {
    const running = this.settling.get(rec.id);
    if (running) return running;
    const p = fn().finally(() => this.settling.delete(rec.id));
    this.settling.set(rec.id, p);
    return p;
  }
}

/** The agent of `host` if it is connected now. */
function agentIfLive(svc: Services, host: string): HostAgent | undefined {
  try {
    return svc.hosts.get(host);
  } catch {
    return undefined;
  }
}

const isAlive = (i: InstanceInfo) => i.state === 'running' || i.state === 'paused';

/**
 * The VM's QEMU on one host from its agent's answers (pure). A migration's source reports its
 * guest as running until the migration is finished (QEMU's own stop for the last copy is no
 * state change to the agent), so a source whose stream reached the final copy or completed is
 * paused in truth. An incoming QEMU may be the migration's rather than one the agent lists.
 */
export function qemuState(
  info: InstanceInfo,
  migration: MigrationPhase,
  asSource: boolean,
): 'running' | 'paused' | 'absent' {
  if (!isAlive(info))
    return migration !== 'none' && migration !== 'failed' && migration !== 'cancelled' ? 'paused' : 'absent';
  if (asSource && (migration === 'completed' || migration === 'device')) return 'paused';
  return info.state === 'paused' ? 'paused' : 'running';
}

/** Asks one host's agent about the VM (a transport failure is an unreachable host). */
export async function viewOf(svc: Services, host: string, uuid: string, asSource = false): Promise<SideView> {
  const agent = agentIfLive(svc, host);
  if (!agent) return { reachable: false };
  try {
    const info = await withinMs(agent.info(uuid), LOOK_MS);
    let status: MigrationStatus | undefined;
    try {
      status = await withinMs(agent.migration.instance_migration_status(uuid), LOOK_MS);
    } catch (e) {
      if (!isXenApiError(e) || e.code === 'HOST_OFFLINE' || e.code === 'CANNOT_CONTACT_HOST') throw e;
      // The agent knows no migration of the VM (VM_BAD_POWER_STATE and the like).
    }
    const migration = status?.phase ?? 'none';
    return { reachable: true, qemu: qemuState(info, migration, asSource), migration };
  } catch (e) {
    log.debug('host did not answer about the VM', { host, vm: uuid, error: String(e) });
    return { reachable: false };
  }
}

/** The database side of a committed migration: the VM runs on `host` now. */
export type SwitchOver = (svc: Services, vmRef: string, host: string) => void | Promise<void>;

/** Default switch-over: resident_on and power state (the migration flow may pass its own). */
export const defaultSwitchOver: SwitchOver = (svc, vmRef, host) => {
  svc.db.transaction(() => {
    svc.db.update('VM', vmRef, { resident_on: host });
    setPowerState(svc.db, vmRef, 'Running');
  });
};

export interface SettleOptions {
  switchOver?: SwitchOver;
}

/** Runs one step; false if its host failed to do it (its step is then still owed). */
async function runStep(
  svc: Services,
  rec: MigrationRecord,
  step: Step,
  switchOver: SwitchOver,
): Promise<boolean> {
  const host = stepSide(step) === 'destination' ? rec.destination : rec.source;
  try {
    switch (step.call) {
      case 'switch_db': {
        const ref = svc.db.refByUuid('VM', rec.vm);
        if (ref) await switchOver(svc, ref, rec.destination);
        return true;
      }
      case 'abort':
        await withinMs(svc.hosts.get(host).migration.instance_migration_abort(rec.vm), CLEANUP_MS);
        return true;
      case 'finish_dst':
        await withinMs(
          svc.hosts.get(host).migration.instance_migration_finish_dst(rec.vm, step.success),
          CLEANUP_MS,
        );
        return true;
      case 'finish_src':
        await withinMs(
          svc.hosts.get(host).migration.instance_migration_finish_src(rec.vm, step.success),
          CLEANUP_MS,
        );
        return true;
    }
  } catch (e) {
    // An abort that finds the stream already over has nothing to do.
    if (step.call === 'abort') return true;
    log.warn('migration settlement step failed', { vm: rec.vm, host, step: step.call, error: String(e) });
    return false;
  }
}

/** Runs a plan's steps in order; stops at the first that fails. */
async function runSteps(
  svc: Services,
  rec: MigrationRecord,
  steps: Step[],
  switchOver: SwitchOver,
): Promise<{ failed?: Step; rest: Step[] }> {
  for (const [i, step] of steps.entries()) {
    if (!(await runStep(svc, rec, step, switchOver))) return { failed: step, rest: steps.slice(i) };
  }
  return { rest: [] };
}

/** Steps still owed after a failed one (an abort or a switch-over is not owed to anyone later). */
const owedOf = (rest: Step[]) => rest.filter((s) => s.call !== 'abort' && s.call !== 'switch_db');

/**
 * Settles journalled migration `rec` (a failed or cancelled one just now, or one left over by a
 * previous run): decides from both agents' answers, runs what it can, keeps the rest in the
 * journal and forgets the record once nothing is owed. A commit whose finish_dst(true) fails
 * (the destination's QEMU did not take the guest) turns into a rollback.
 */
export function settleMigration(
  svc: Services,
  journal: MigrationJournal,
  rec: MigrationRecord,
  opts: SettleOptions = {},
): Promise<Resolution> {
  journal.release(rec);
  const switchOver = opts.switchOver ?? defaultSwitchOver;
  return journal.once(rec, async () => {
    // Another settlement may have finished it meanwhile (or moved it on: its outcome, its steps).
    const now = journal.current(rec.id);
    if (!now) return { outcome: rec.outcome ?? 'rollback', steps: [], pending: [], why: 'settled already' };
    Object.assign(rec, now);
    const [src, dst] = await Promise.all([
      viewOf(svc, rec.source, rec.vm, true),
      viewOf(svc, rec.destination, rec.vm),
    ]);
    let r = decide(rec, src, dst);
    log.info('settling a migration', { vm: rec.vm, outcome: r.outcome, why: r.why, src, dst });
    if (r.outcome === 'wait') return r;
    let run = await runSteps(svc, rec, r.steps, switchOver);
    if (run.failed?.call === 'finish_dst' && run.failed.success && !rec.outcome) {
      // The destination could not resume the guest: it stays on the source.
      r = plan('rollback', rollbackSteps(src), { source: src.reachable, destination: dst.reachable }, '');
      r.why = 'the destination could not resume the guest';
      run = await runSteps(svc, rec, r.steps, switchOver);
    }
    const owed = [...r.pending, ...owedOf(run.rest)];
    if (owed.length === 0) journal.end(rec);
    else {
      rec.outcome = r.outcome === 'commit' ? 'commit' : 'rollback';
      rec.pending = owed;
      journal.write(rec);
    }
    return { ...r, pending: owed };
  });
}

/** How often migrations left unsettled (a host did not answer) are tried again. */
const SETTLE_EVERY_MS = Number(process.env.BERTH_MIGRATE_SETTLE_INTERVAL_MS ?? 30_000);

/**
 * Tries the journal's unsettled migrations again every SETTLE_EVERY_MS (a host back without its
 * agent reconnecting, e.g. a cut link restored before the connection was given up). Returns the
 * stop function.
 */
export function settlePeriodically(svc: Services, everyMs = SETTLE_EVERY_MS): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    try {
      if (!svc.migrationJournal?.pending().length) return;
    } catch {
      return; // the data directory is gone (a manager closed under a test)
    }
    busy = true;
    void settleLeftovers(svc).finally(() => {
      busy = false;
    });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Settles every journalled migration no process drives that concerns `host` (all when omitted):
 * at start-up and whenever a host's agent (re)connects.
 */
export async function settleLeftovers(svc: Services, host?: string, opts: SettleOptions = {}): Promise<void> {
  const journal = svc.migrationJournal;
  if (!journal) return;
  for (const rec of journal.pending()) {
    if (host && rec.source !== host && rec.destination !== host) continue;
    try {
      await settleMigration(svc, journal, rec, opts);
    } catch (e) {
      log.warn('could not settle a migration left over', { vm: rec.vm, error: String(e) });
    }
  }
}

const MIGRATING_OPS = new Set(['pool_migrate', 'migrate_send']);
const isHostRef = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== 'OpaqueRef:NULL';

/** Stops the VM's QEMU on `host` whatever its agent takes it for (an incoming one, or its own). */
async function stopCopy(svc: Services, host: string, uuid: string, asSource: boolean): Promise<void> {
  const agent = svc.hosts.get(host);
  await (asSource
    ? agent.migration.instance_migration_finish_src(uuid, true)
    : agent.migration.instance_migration_finish_dst(uuid, false)
  ).catch(() => undefined);
  const left = await agent.info(uuid);
  if (isAlive(left)) await agent.shutdown(uuid, false, 0);
}

/**
 * VMs `host`'s agent runs although the database has them Running on another host, with no
 * migration journalled or in progress for them: a migration's leftover (the manager that drove
 * it and its journal are gone). One copy stays (chooseSurvivor), the other is stopped, and
 * resident_on follows the survivor. Returns the uuids of the VMs it settled.
 */
export async function settleStrays(
  svc: Services,
  instances: InstanceInfo[],
  host: string,
): Promise<string[]> {
  const done: string[] = [];
  for (const inst of instances) {
    if (!isAlive(inst)) continue;
    const ref = svc.db.refByUuid('VM', inst.uuid);
    const vm = ref ? svc.db.get('VM', ref) : undefined;
    if (!ref || !vm || vm.is_control_domain) continue;
    const resident = vm.resident_on;
    if (!isHostRef(resident) || resident === host) continue;
    if (vm.power_state !== 'Running' && vm.power_state !== 'Paused') continue;
    if (svc.migrationJournal?.concerns(inst.uuid)) continue;
    const ops = Object.values((vm.current_operations as Record<string, string>) ?? {});
    if (ops.some((o) => MIGRATING_OPS.has(o))) continue;
    const view = await viewOf(svc, resident, inst.uuid);
    const residentQemu: QemuView = view.reachable ? view.qemu : 'unknown';
    const keep = chooseSurvivor(residentQemu, inst.state === 'paused' ? 'paused' : 'running');
    log.warn('a VM runs on a host it is not resident on', {
      vm: inst.uuid,
      host,
      resident,
      residentQemu,
      keep,
    });
    try {
      if (keep === 'resident') await stopCopy(svc, host, inst.uuid, false);
      else if (keep === 'other') {
        await defaultSwitchOver(svc, ref, host);
        if (residentQemu !== 'absent') await stopCopy(svc, resident, inst.uuid, true);
      } else continue;
      done.push(inst.uuid);
    } catch (e) {
      log.warn('could not stop the extra copy of a VM', { vm: inst.uuid, error: String(e) });
    }
  }
  return done;
}

/**
 * After `host`'s agent (re)connected and its VMs were reconciled: migrations left over that
 * concern it are settled, then copies of VMs it runs for another host (listed afresh: the
 * settlement may have stopped some). Never throws.
 */
export async function afterAgentReconnect(svc: Services, host: string): Promise<void> {
  try {
    await settleLeftovers(svc, host);
    const agent = agentIfLive(svc, host);
    if (agent) await settleStrays(svc, await agent.all(), host);
  } catch (e) {
    log.warn('migration recovery after a reconnection failed', { host, error: String(e) });
  }
}

/** A stream that moved no byte for this long is stalled (a cut link: TCP would retry for minutes). */
const STALL_MS = Number(process.env.BERTH_MIGRATE_STALL_MS ?? 15_000);
/** How long the destination's agent may be disconnected while the stream runs. */
const PEER_GRACE_MS = Number(process.env.BERTH_MIGRATE_PEER_GRACE_MS ?? 30_000);
/** How often the watchdog looks, and how long one look may take. */
const WATCH_MS = 1000;
const LOOK_MS = 5000;

/** Why a running migration should be given up (pure): a stalled stream or a vanished destination. */
export function watchdogVerdict(
  now: number,
  lastMove: number,
  destinationOfflineSince: number,
  limits = { stallMs: STALL_MS, peerGraceMs: PEER_GRACE_MS },
): string | undefined {
  if (now - lastMove > limits.stallMs)
    return `no data reached the destination for ${Math.round(limits.stallMs / 1000)} s (the link between the hosts is down?)`;
  if (destinationOfflineSince && now - destinationOfflineSince > limits.peerGraceMs)
    return `the destination host's agent stopped answering for ${Math.round(limits.peerGraceMs / 1000)} s`;
  return undefined;
}

/** How long one clean-up or settlement call may take before its host counts as not answering. */
export const CLEANUP_MS = Number(process.env.BERTH_MIGRATE_CLEANUP_MS ?? 45_000);

/** `p`, or a rejection once `ms` passed (the call itself is not cancelled). */
export function withinMs<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Watches a running migration from the side: the source's byte counters and the destination's
 * agent connection. A stream that stalls (a cut link leaves QEMU's TCP retrying for many
 * minutes) or a destination gone too long is aborted on the source; `reason` says why.
 */
function watchStream(svc: Services, uuid: string, src: string, dst: string) {
  const state: { reason?: string; stop(): void } = { stop: () => undefined };
  let moved = -1;
  let lastMove = Date.now();
  let offlineSince = 0;
  let busy = false;
  const look = async () => {
    const agent = agentIfLive(svc, src);
    const s = agent && (await withinMs(agent.migration.instance_migration_status(uuid), LOOK_MS));
    const now = Date.now();
    // Only a stream known to run is judged (the source's own silence is the flow's to judge).
    if (!agent || !s || !IN_FLIGHT.has(s.phase)) {
      lastMove = now;
      return;
    }
    if (s.ramTransferred + s.diskTransferred !== moved) {
      moved = s.ramTransferred + s.diskTransferred;
      lastMove = now;
    }
    offlineSince = svc.hosts.live(dst) ? 0 : offlineSince || now;
    const why = watchdogVerdict(now, lastMove, offlineSince);
    if (!why) return;
    state.reason = why;
    log.warn('aborting a migration', { vm: uuid, why });
    await agent.migration.instance_migration_abort(uuid).catch(() => undefined);
  };
  const timer = setInterval(() => {
    if (busy || state.reason) return;
    busy = true;
    look()
      .catch(() => undefined)
      .finally(() => {
        busy = false;
      });
  }, WATCH_MS);
  timer.unref();
  state.stop = () => clearInterval(timer);
  return state;
}

/** What the migration flow gets from its guard. */
export interface MigrationGuard {
  /** The flow switches over now: recorded durably before finish_dst(true). */
  switching(): void;
  /**
   * Failures are settled by the guard (a journal exists): the flow leaves an uncertain end (a
   * finish_dst(true) that failed) to it rather than resuming the source itself.
   */
  readonly settles: boolean;
  /** The flow's rollback could not finish `side` (its host did not answer): owed to it later. */
  owe(side: Side): void;
}

/** What the settlement did, for the task's error (pure). */
export function settlementNote(r: Resolution | undefined): string {
  if (!r) return '';
  if (r.outcome === 'wait')
    return '; the VM stays paused on the source until the destination host answers again';
  const owed = r.pending.map((s) => (stepSide(s) === 'destination' ? 'destination' : 'source'));
  const later = owed.length
    ? `; the ${[...new Set(owed)].join(' and ')} host is cleaned up once it answers again`
    : '';
  return r.outcome === 'commit' ? `; the VM was moved to the destination after all${later}` : later;
}

/**
 * The flow rolled a failed migration back itself: what it could not do (a host did not answer)
 * stays in the journal as a settled rollback, the rest is forgotten.
 */
function owedRollback(journal: MigrationJournal, rec: MigrationRecord, owed: Set<Side>): Resolution {
  const pending: Step[] = [];
  if (owed.has('destination')) pending.push({ call: 'finish_dst', success: false });
  if (owed.has('source')) pending.push({ call: 'finish_src', success: false });
  journal.release(rec);
  if (pending.length === 0) journal.end(rec);
  else {
    rec.outcome = 'rollback';
    rec.pending = pending;
    journal.write(rec);
  }
  return { outcome: 'rollback', steps: [], pending, why: 'rolled back by the migration' };
}

/**
 * Runs a migration flow (`fn`) of VM `vmRef` to host `dst` under the journal and the stream
 * watchdog: journalled before anything happens on the hosts, forgotten when it succeeds,
 * settled (settleMigration) when it fails. A failure the watchdog caused, or one that left work
 * for an unreachable host, says so in VM_MIGRATE_FAILED's reason.
 */
export async function guardMigration<T>(
  svc: Services,
  vmRef: string,
  dst: string,
  fn: (guard: MigrationGuard) => Promise<T>,
  opts: SettleOptions = {},
): Promise<T> {
  const journal = svc.migrationJournal;
  const vm = svc.db.mustGet('VM', vmRef);
  const uuid = String(vm.uuid);
  const src = String(vm.resident_on);
  const rec = journal?.begin(uuid, src, dst);
  const watchdog = watchStream(svc, uuid, src, dst);
  const owed = new Set<Side>();
  try {
    const out = await fn({
      switching: () => {
        if (journal && rec) journal.setPhase(rec, 'switching');
      },
      settles: Boolean(rec),
      owe: (side) => owed.add(side),
    });
    watchdog.stop();
    if (journal && rec) journal.end(rec);
    return out;
  } catch (e) {
    watchdog.stop();
    let settled: Resolution | undefined;
    if (journal && rec && rec.phase === 'switching')
      // The end is uncertain (did the destination resume the guest?): both hosts are asked.
      settled = await settleMigration(svc, journal, rec, opts).catch((err) => {
        log.warn('could not settle a failed migration', { vm: uuid, error: String(err) });
        return undefined;
      });
    else if (journal && rec) settled = owedRollback(journal, rec, owed);
    if (!isXenApiError(e) || (e.code !== 'VM_MIGRATE_FAILED' && !watchdog.reason)) throw e;
    const why = watchdog.reason ?? String(e.params[3] ?? e.message);
    const hostUuid = (h: string) => String(svc.db.get('host', h)?.uuid ?? '');
    throw new XenApiError('VM_MIGRATE_FAILED', [
      uuid,
      hostUuid(src),
      hostUuid(dst),
      why + settlementNote(settled),
    ]);
  }
}
