// Berth's own automatic restart of protected VMs when their host dies (not xapi HA, which needs a
// heartbeat SR and host self-fencing; Berth has neither). On the master: a member host whose
// record is not live, whose agent this manager cannot reach AND whose manager does not answer,
// continuously for the pool's other_config:berth_ha_restart_after_s seconds (default 60), is
// declared dead; its VMs with ha_restart_priority "restart" (then "best-effort") are reset to
// Halted, as VM.power_state_reset does, and started again by placement (VM.start without a
// host), in `order`. VMs without a priority stay as they are until the host is back or an
// operator resets them (xapi without HA). A VM with a disk on a non-shared SR is not touched: no
// other host could open the disk. The residual risk (docs/evacuation.md): a host cut off from
// the master but still running keeps its QEMU; when it comes back, Berth stops that stale QEMU,
// but in between both may write to a shared disk. The decisions are pure functions; AutoRestart
// is the thin timer around them.
import http from 'node:http';
import https from 'node:https';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import { createMessage } from '../api/message.js';
import { recordHalted } from '../api/vm.js';
import type { Row } from '../db/database.js';
import { requiredSrs, type RecordReader } from '../vm/placement.js';
import { peerUrl } from './peer.js';

const log = logger('auto-restart');

/** Pool other_config key: seconds a member must stay dead before its VMs restart elsewhere. */
export const RESTART_AFTER_KEY = 'berth_ha_restart_after_s';
export const DEFAULT_RESTART_AFTER_S = 60;
/** The priorities that restart, in the order they are served (xapi's HA priorities). */
export const RESTART_PRIORITIES = ['restart', 'best-effort'] as const;

const isNull = (ref: unknown) => ref === undefined || ref === '' || ref === 'OpaqueRef:NULL';

/** The delay from the pool's other_config: a positive number of seconds, else the default. */
export function restartDelayMs(pool: Row | undefined): number {
  const raw = (pool?.other_config as Record<string, string> | undefined)?.[RESTART_AFTER_KEY];
  const s = raw === undefined ? Number.NaN : Number(raw);
  return (Number.isFinite(s) && s > 0 ? s : DEFAULT_RESTART_AFTER_S) * 1000;
}

/**
 * Since when each host has been dead, given what is seen now: a host seen dead keeps its first
 * time, a host seen alive (or gone from the pool) is dropped, so one live moment restarts the
 * clock.
 */
export function updateDeadSince(
  prev: ReadonlyMap<string, number>,
  seen: ReadonlyArray<{ host: string; dead: boolean }>,
  now: number,
): Map<string, number> {
  const next = new Map<string, number>();
  for (const { host, dead } of seen) if (dead) next.set(host, prev.get(host) ?? now);
  return next;
}

/** The hosts dead for at least `delayMs` by `now`. */
export function declaredDead(deadSince: ReadonlyMap<string, number>, now: number, delayMs: number): string[] {
  return [...deadSince]
    .filter(([, since]) => now - since >= delayMs)
    .map(([h]) => h)
    .sort();
}

/**
 * Could `host` be dead, as far as the records and the agent connection tell? Never this manager's
 * own host (its QEMUs run beside it even when its agent is down); a member only when its record
 * says not live and its agent is not connected. (The watcher then also asks the member's manager:
 * a host whose manager answers is up, its agent merely down, its QEMUs likely still running.)
 */
export function hostMayBeDead(
  records: RecordReader,
  host: string,
  agentConnected: boolean,
  localHost: string,
): boolean {
  if (host === localHost || agentConnected) return false;
  const row = records.get('host', host);
  return records.get('host_metrics', String(row?.metrics))?.live !== true;
}

/** Does a member's manager answer HTTP at `url` within `timeoutMs` (any status counts)? */
export function managerAnswers(url: string, timeoutMs = 3000): Promise<boolean> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve) => {
    // agent: false — a probe's socket must not stay pooled: a later request to the same address
    // (after that manager restarted) would reuse it and fail with "socket hang up".
    const opts = { method: 'GET', rejectUnauthorized: false, timeout: timeoutMs, agent: false } as const;
    const req = mod.request(url, opts, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

export interface RestartDecision {
  /** VMs to reset and start elsewhere, in the order to start them. */
  restart: string[];
  /** Protected VMs left alone, and why. */
  skipped: Array<{ vm: string; reason: string }>;
}

/** Priority first ("restart" before "best-effort"), then `order` (lower first), then ref. */
function startOrder(r: RecordReader) {
  return (a: string, b: string) => {
    const [va, vb] = [r.get('VM', a)!, r.get('VM', b)!];
    const p = (v: Row) => RESTART_PRIORITIES.indexOf(String(v.ha_restart_priority) as never);
    return p(va) - p(vb) || Number(va.order ?? 0) - Number(vb.order ?? 0) || a.localeCompare(b);
  };
}

/**
 * Which VMs of the dead hosts restart: guests Running or Paused there with a restart priority and
 * every disk on a shared SR (a disk on the dead host's own storage could not be opened elsewhere,
 * and resetting the VM would only lose its state).
 */
export function restartDecision(r: RecordReader, deadHosts: readonly string[]): RestartDecision {
  const dead = new Set(deadHosts);
  const restart: string[] = [];
  const skipped: RestartDecision['skipped'] = [];
  for (const [ref, vm] of r.all('VM')) {
    if (vm.is_control_domain || isNull(vm.resident_on) || !dead.has(String(vm.resident_on))) continue;
    if (vm.power_state !== 'Running' && vm.power_state !== 'Paused') continue;
    if (!RESTART_PRIORITIES.includes(String(vm.ha_restart_priority) as never)) continue;
    const local = requiredSrs(r, vm).find((sr) => r.get('SR', sr)?.shared !== true);
    if (local) skipped.push({ vm: ref, reason: `a disk is on SR ${local}, which is not shared` });
    else restart.push(ref);
  }
  return { restart: restart.sort(startOrder(r)), skipped };
}

/** Is a VM still waiting for its restart (reset by us, Halted, still protected)? */
export function stillToStart(vm: Row | undefined): boolean {
  return vm?.power_state === 'Halted' && RESTART_PRIORITIES.includes(String(vm.ha_restart_priority) as never);
}

/**
 * The watcher on the master: every `intervalMs`, declares hosts dead, resets their protected VMs,
 * starts them (VM.start through `start`, which places them), retries the ones placement could not
 * start yet, and stops a restarted VM's stale QEMU on its former host when that host is back.
 */
export class AutoRestart {
  private timer?: NodeJS.Timeout;
  private deadSince = new Map<string, number>();
  /** VMs reset by the watcher and not started yet (retried every round). */
  private readonly pending = new Set<string>();
  /** VM uuid → the host it was reset away from (its stale QEMU is stopped when the host returns). */
  private readonly formerHost = new Map<string, string>();
  private running = false;
  /** Protected VMs already reported as not restartable (reported once). */
  private readonly reported = new Set<string>();

  constructor(
    private readonly svc: Services,
    private readonly start: (vm: string) => Promise<void>,
    private readonly intervalMs: number,
    /** Is the member's manager up (default: an HTTP request to its API port)? */
    private readonly managerUp: (host: string) => Promise<boolean> = (host) => {
      const address = String(svc.db.get('host', host)?.address ?? '');
      return address && svc.pool
        ? managerAnswers(peerUrl(svc.pool.endpoint, address))
        : Promise.resolve(false);
    },
  ) {}

  begin(): void {
    this.timer = setInterval(() => void this.round(), this.intervalMs);
    this.timer.unref();
  }

  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Is the watcher paused (this host's agent's get_watcher_pause after `now`)? */
  private async paused(now: number): Promise<boolean> {
    let until: number | null = null;
    try {
      until = await this.svc.hosts.get(this.svc.hostRef()).nodeStorage.get_watcher_pause();
    } catch (e) {
      log.warn('watcher pause unknown, acting as not paused', { error: String(e) });
    }
    return typeof until === 'number' && until * 1000 > now;
  }

  /** One round (public for tests); rounds never overlap. */
  async round(now = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.fenceReturnedHosts();
      const { db, hosts } = this.svc;
      const seen: Array<{ host: string; dead: boolean }> = [];
      for (const h of db.all('host').keys()) {
        const dead = hostMayBeDead(db, h, hosts.live(h), this.svc.hostRef()) && !(await this.managerUp(h));
        seen.push({ host: h, dead });
      }
      this.deadSince = updateDeadSince(this.deadSince, seen, now);
      // Ganeti's watcher pause (set_watcher_pause on this host's agent): dead hosts are still
      // timed, but no VM is reset or started until the pause ends.
      if (await this.paused(now)) return;
      const dead = declaredDead(this.deadSince, now, restartDelayMs(db.get('pool', this.svc.poolRef())));
      const { restart, skipped } = restartDecision(db, dead);
      for (const { vm, reason } of skipped) {
        if (this.reported.has(vm)) continue;
        this.reported.add(vm);
        log.warn('protected VM on a dead host not restarted', { vm, reason });
      }
      for (const vm of restart) this.reset(vm);
      await this.startPending();
    } catch (e) {
      log.warn('automatic restart round failed', { error: String(e) });
    } finally {
      this.running = false;
    }
  }

  private reset(vm: string) {
    const row = this.svc.db.get('VM', vm);
    if (!row) return;
    const host = String(row.resident_on);
    recordHalted(this.svc.db, vm);
    this.formerHost.set(String(row.uuid), host);
    this.pending.add(vm);
    const hostName = String(this.svc.db.get('host', host)?.name_label ?? host);
    log.warn('host declared dead: restarting its protected VM elsewhere', { vm, host });
    this.note(
      row,
      `VM ${row.name_label} was reset to Halted because host ${hostName} is dead; restarting it.`,
    );
  }

  private async startPending() {
    for (const vm of [...this.pending].sort(startOrder(this.svc.db))) {
      if (!stillToStart(this.svc.db.get('VM', vm))) {
        this.pending.delete(vm);
        continue;
      }
      try {
        await this.start(vm);
        this.pending.delete(vm);
        log.info('protected VM restarted', { vm, host: this.svc.db.get('VM', vm)?.resident_on });
      } catch (e) {
        // Kept pending: placement may find a host later (one comes back, memory frees up).
        log.warn('protected VM restart failed; retrying', { vm, error: String(e) });
      }
    }
  }

  /** A former host back: its QEMU of a VM now resident elsewhere (or Halted) is stopped. */
  private async fenceReturnedHosts() {
    for (const [uuid, host] of [...this.formerHost]) {
      if (!this.svc.hosts.live(host)) continue;
      const ref = this.svc.db.refByUuid('VM', uuid);
      const vm = ref ? this.svc.db.get('VM', ref) : undefined;
      if (vm?.resident_on === host) {
        this.formerHost.delete(uuid); // adopted back there before the restart: it is the VM
        continue;
      }
      try {
        const agent = this.svc.hosts.get(host);
        if ((await agent.all()).some((i) => i.uuid === uuid)) {
          log.warn('stopping the stale QEMU of a restarted VM on its former host', { uuid, host });
          await agent.shutdown(uuid, false, 0);
        }
        this.formerHost.delete(uuid);
      } catch (e) {
        log.warn('could not check the former host of a restarted VM', { uuid, host, error: String(e) });
      }
    }
  }

  private note(vm: Row, body: string) {
    try {
      createMessage({ svc: this.svc }, 'HA_HOST_FAILED', 2, 'VM', String(vm.uuid), body);
    } catch (e) {
      log.warn('could not record message', { error: String(e) });
    }
  }
}
