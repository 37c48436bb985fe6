// A VM's RRD travels with the VM (xapi's model, issue 16): the agent of the host it runs on keeps
// it; when the VM stops (halt, suspend, crash) the master takes it from that agent into its archive
// (stats/archive.ts); before the VM starts or resumes somewhere it is pushed to that host's agent;
// when it migrates it is taken from the source and pushed to the destination. Statistics never fail
// or delay a VM operation: every step here is logged on error and the operation goes on, and the
// moves run in the background, one after the other per VM (a start right after a halt pushes the
// dump the halt took).
//
// Stops, migrations and destroys are seen in the database's commits (whichever path wrote them:
// the API, reconciliation, agent events, migration recovery); starts are hooked explicitly, as the
// start begins (the archived dump is pushed to the chosen host in the background: VM.start does
// not wait for it, so its latency is unchanged). The push may thus land after the agent's first
// readings of the VM; the pushed RRD then replaces the few seconds recorded meanwhile.
import { NULL_REF } from '../../shared/datamodel/types.js';
import { logger } from '../../shared/log.js';
import type { RrdArchive, Services } from '../api/context.js';
import type { Change, Row } from '../db/database.js';

const log = logger('stats');

type Owner = 'vm' | 'sr';

/** Per-archive queues of RRD moves, by owner:uuid (moves of one VM run in order). */
const queues = new WeakMap<RrdArchive, Map<string, Promise<void>>>();

/** Runs `job` after the earlier moves of the same RRD; never rejects (errors are logged). */
function enqueue(archive: RrdArchive, key: string, what: string, job: () => Promise<void>): Promise<void> {
  let q = queues.get(archive);
  if (!q) queues.set(archive, (q = new Map()));
  const prev = q.get(key) ?? Promise.resolve();
  const next = prev
    .then(job)
    .catch((e) => log.warn(`RRD ${what} failed`, { rrd: key, error: String(e) }))
    .finally(() => {
      if (q.get(key) === next) q.delete(key);
    });
  q.set(key, next);
  return next;
}

/** Resolves when every RRD move queued so far has finished (tests, shutdown). */
export async function statsSettled(svc: Services): Promise<void> {
  const q = svc.rrdArchive && queues.get(svc.rrdArchive);
  while (q?.size) await Promise.all([...q.values()]);
}

const isRef = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== NULL_REF;

/**
 * Before a VM runs on `host` (start, start_on, resume, resume_on): hands that host's agent the
 * VM's archived RRD, if the archive holds one. Runs in the background (the caller does not wait:
 * a VM start is not slowed by statistics); the returned promise never rejects.
 */
export function pushArchivedVmRrd(svc: Services, vmUuid: string, host: string): Promise<void> {
  return pushArchived(svc, 'vm', vmUuid, host);
}

/** Hands `host`'s agent the archived RRD of a VM or SR, if any (queued; never rejects). */
function pushArchived(svc: Services, owner: Owner, uuid: string, host: string): Promise<void> {
  const archive = svc.rrdArchive;
  if (!archive) return Promise.resolve();
  return enqueue(archive, `${owner}:${uuid}`, 'push', async () => {
    const dump = await archive.read(owner, uuid);
    if (dump === null) return;
    await svc.hosts.get(host).stats.stats_rrd_push(owner, uuid, dump);
    log.debug('pushed archived RRD', { owner, uuid, host });
  });
}

/** Takes a VM's (or SR's) RRD from `host`'s agent into the archive (it stopped running there). */
export function takeToArchive(svc: Services, owner: Owner, uuid: string, host: string): Promise<void> {
  const archive = svc.rrdArchive;
  if (!archive) return Promise.resolve();
  return enqueue(archive, `${owner}:${uuid}`, 'take', async () => {
    const dump = await svc.hosts.get(host).stats.stats_rrd_take(owner, uuid, true);
    if (dump === null) return;
    await archive.write(owner, uuid, dump);
    log.debug('archived RRD', { owner, uuid, host });
  });
}

/** A VM moved from `from` to `to` (migration): its RRD follows (kept in the archive if `to` refuses it). */
function moveVmRrd(svc: Services, vmUuid: string, from: string, to: string): Promise<void> {
  const archive = svc.rrdArchive;
  if (!archive) return Promise.resolve();
  return enqueue(archive, `vm:${vmUuid}`, 'move', async () => {
    const dump = await svc.hosts.get(from).stats.stats_rrd_take('vm', vmUuid, true);
    if (dump === null) return;
    try {
      await svc.hosts.get(to).stats.stats_rrd_push('vm', vmUuid, dump);
    } catch (e) {
      await archive.write('vm', vmUuid, dump);
      throw e;
    }
  });
}

function forget(svc: Services, owner: Owner, uuid: string): Promise<void> {
  const archive = svc.rrdArchive;
  if (!archive) return Promise.resolve();
  return enqueue(archive, `${owner}:${uuid}`, 'removal', () => archive.remove(owner, uuid));
}

/** Where a VM row says it runs (Running/Paused with a resident host), else null. */
export function runningHost(vm: Row | undefined): string | null {
  if (!vm || vm.is_control_domain) return null;
  if (vm.power_state !== 'Running' && vm.power_state !== 'Paused') return null;
  return isRef(vm.resident_on) ? vm.resident_on : null;
}

/** What the RRD of a VM needs after its row changed from `before` to `after` (pure). */
export type VmRrdMove =
  | { kind: 'none' }
  | { kind: 'take'; host: string }
  | { kind: 'move'; from: string; to: string };
export function vmRrdMove(before: string | null, after: string | null): VmRrdMove {
  if (before === after || before === null) return { kind: 'none' };
  if (after === null) return { kind: 'take', host: before };
  return { kind: 'move', from: before, to: after };
}

/** pool.other_config:create_min_max_in_new_VM_RRDs, as xapi reads it (exactly "true"). */
export function minMaxSetting(svc: Services): boolean {
  const other = svc.db.get('pool', svc.poolRef())?.other_config as Record<string, string> | undefined;
  return other?.create_min_max_in_new_VM_RRDs === 'true';
}

/**
 * Follows the database on the pool master: VMs that stop or move take their RRD along, an SR
 * detached from its last host leaves its RRD in the archive and gets it back when attached again,
 * destroyed VMs and SRs lose their archived one, and a change of the pool's min/max setting reaches every
 * agent. Returns the function that stops following.
 */
export function followVmRrds(svc: Services): () => void {
  const { db } = svc;
  const where = new Map<string, { uuid: string; host: string | null }>();
  for (const [ref, vm] of db.all('VM')) where.set(ref, { uuid: String(vm.uuid), host: runningHost(vm) });
  let minMax = minMaxSetting(svc);
  // An SR's RRD is kept on the master while no host has the SR attached (xapi's SR RRDs).
  const plugged = new Map<string, { sr: string; host: string }>();
  for (const [ref, pbd] of db.all('PBD'))
    if (pbd.currently_attached === true) plugged.set(ref, { sr: String(pbd.SR), host: String(pbd.host) });
  const attachedHosts = (sr: string) => [...plugged.values()].filter((p) => p.sr === sr).length;
  const srUuid = (sr: string) => String(db.get('SR', sr)?.uuid ?? '');
  const srDetached = (sr: string, host: string) => {
    const uuid = srUuid(sr);
    if (uuid && attachedHosts(sr) === 0) void takeToArchive(svc, 'sr', uuid, host);
  };
  const srAttached = (sr: string, host: string) => {
    const uuid = srUuid(sr);
    if (uuid && attachedHosts(sr) === 1) void pushArchived(svc, 'sr', uuid, host);
  };
  const onCommit = (changes: readonly Change[]) => {
    for (const c of changes) {
      if (c.cls === 'VM') {
        const before = where.get(c.ref);
        if (c.op === 'del') {
          where.delete(c.ref);
          const uuid = before?.uuid ?? String(c.snapshot?.uuid ?? '');
          if (uuid) void forget(svc, 'vm', uuid);
          continue;
        }
        const row = db.get('VM', c.ref);
        if (!row) continue;
        const now = { uuid: String(row.uuid), host: runningHost(row) };
        where.set(c.ref, now);
        const move = vmRrdMove(before?.host ?? null, now.host);
        if (move.kind === 'take') void takeToArchive(svc, 'vm', now.uuid, move.host);
        else if (move.kind === 'move') void moveVmRrd(svc, now.uuid, move.from, move.to);
      } else if (c.cls === 'PBD') {
        const before = plugged.get(c.ref);
        const row = c.op === 'del' ? undefined : db.get('PBD', c.ref);
        const now =
          row?.currently_attached === true ? { sr: String(row.SR), host: String(row.host) } : undefined;
        if (now) plugged.set(c.ref, now);
        else plugged.delete(c.ref);
        if (before && !now) srDetached(before.sr, before.host);
        else if (!before && now) srAttached(now.sr, now.host);
      } else if (c.cls === 'SR' && c.op === 'del') {
        const uuid = String(c.snapshot?.uuid ?? '');
        if (uuid) void forget(svc, 'sr', uuid);
      } else if (c.cls === 'pool' && c.op === 'mod') {
        const now = minMaxSetting(svc);
        if (now !== minMax) {
          minMax = now;
          for (const host of svc.hosts.refs()) void configureAgent(svc, host);
        }
      }
    }
  };
  return db.onCommit(onCommit);
}

/** Sends the pool's statistics settings to `host`'s agent. */
async function configureAgent(svc: Services, host: string): Promise<void> {
  try {
    if (!svc.hosts.live(host)) return;
    await svc.hosts.get(host).stats.stats_configure({ createMinMaxInNewVmRrds: minMaxSetting(svc) });
  } catch (e) {
    log.warn('could not configure the statistics of a host', { host, error: String(e) });
  }
}

/**
 * After `host`'s agent (re)connected and its VMs were reconciled: the pool's settings, then the
 * RRDs it still holds for VMs that no longer run there (stopped while the agent was away: they go
 * to the archive unless the VM runs elsewhere now or is gone, then they are dropped) and SRs no
 * longer attached there (to the archive). A leftover older than the archived dump (by
 * `<lastupdate>`) is dropped, not archived. Never throws.
 */
export async function statsAfterReconnect(svc: Services, host: string): Promise<void> {
  if (!svc.rrdArchive || svc.pool?.isMaster() === false) return;
  await configureAgent(svc, host);
  let held: { vms: string[]; srs: string[] };
  try {
    held = await svc.hosts.get(host).stats.stats_rrd_list();
  } catch (e) {
    log.warn('could not list the RRDs of a host', { host, error: String(e) });
    return;
  }
  for (const uuid of held.vms) {
    const ref = svc.db.refByUuid('VM', uuid);
    const vm = ref ? svc.db.get('VM', ref) : undefined;
    const runsOn = runningHost(vm);
    if (runsOn === host) continue;
    if (vm && runsOn === null) void takeLeftover(svc, 'vm', uuid, host);
    else void dropHeld(svc, 'vm', uuid, host);
  }
  for (const uuid of held.srs) {
    const ref = svc.db.refByUuid('SR', uuid);
    if (ref && srAttachedOn(svc, ref, host)) continue;
    if (ref) void takeLeftover(svc, 'sr', uuid, host);
    else void dropHeld(svc, 'sr', uuid, host);
  }
}

/**
 * The `<lastupdate>` of an RRD dump (epoch seconds), read from its first kilobytes where the
 * engine's dumps (and xapi's) put it; undefined when absent or not a number.
 */
export function dumpLastUpdate(dump: string): number | undefined {
  const m = /<lastupdate>\s*([0-9]+(?:\.[0-9]*)?)\s*<\/lastupdate>/.exec(dump.slice(0, 4096));
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether a leftover dump should replace the archived one: nothing archived, or the leftover was
 * updated later (a leftover from an agent that was away for a while can be older than what the
 * archive got since, e.g. the VM ran elsewhere and stopped there). Pure.
 */
export function leftoverIsNewer(held: string, archived: string | null): boolean {
  if (archived === null) return true;
  const h = dumpLastUpdate(held);
  const a = dumpLastUpdate(archived);
  if (h === undefined) return false;
  return a === undefined || h > a;
}

/** Takes a leftover RRD off `host`'s agent into the archive, unless the archive holds a newer one. */
function takeLeftover(svc: Services, owner: Owner, uuid: string, host: string): Promise<void> {
  const archive = svc.rrdArchive;
  if (!archive) return Promise.resolve();
  return enqueue(archive, `${owner}:${uuid}`, 'leftover take', async () => {
    const dump = await svc.hosts.get(host).stats.stats_rrd_take(owner, uuid, true);
    if (dump === null) return;
    const archived = await archive.read(owner, uuid).catch(() => null);
    if (!leftoverIsNewer(dump, archived)) {
      log.info('leftover RRD older than the archived one: dropped', { owner, uuid, host });
      return;
    }
    await archive.write(owner, uuid, dump);
    log.debug('archived leftover RRD', { owner, uuid, host });
  });
}

function srAttachedOn(svc: Services, sr: string, host: string): boolean {
  const pbds = (svc.db.get('SR', sr)?.PBDs as string[] | undefined) ?? [];
  return pbds.some((p) => {
    const pbd = svc.db.get('PBD', p);
    return pbd?.host === host && pbd.currently_attached === true;
  });
}

/** Forgets a stale RRD on an agent (its VM runs elsewhere with a newer one, or is gone). */
function dropHeld(svc: Services, owner: Owner, uuid: string, host: string): Promise<void> {
  const archive = svc.rrdArchive;
  if (!archive) return Promise.resolve();
  return enqueue(archive, `${owner}:${uuid}`, 'drop', async () => {
    await svc.hosts.get(host).stats.stats_rrd_take(owner, uuid, true);
  });
}
