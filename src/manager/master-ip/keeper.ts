// The pool master keeps the floating management address (config.ts) on itself while it is master:
// started when the manager starts as master or becomes one (designate_new_master,
// emergency_transition_to_master), it activates the address on its own agent, follows the pool's
// other_config (a new address, device or netmask), and removes it from every other member as
// their agents connect, as Ganeti's master failover deactivates the old master's. A demoted
// master's own agent client is closed with its role, so the new master removes the address there.
import { logger } from '../../shared/log.js';
import type { MasterIpParams, MasterIpProcedures } from '../../shared/host/master-ip.js';
import type { Services } from '../api/context.js';
import { type MasterIpStep, masterIpSteps, wantedMasterIp } from './config.js';

const log = logger('master-ip');

export interface MasterIpStatus {
  /** What the pool's other_config asks for; '' when unset. */
  wanted: string;
  device: string;
  /** Whether this master's agent holds it now (as far as the last step said). */
  active: boolean;
  /** The last failure (a malformed key, a device the agent refused…); '' when none. */
  error: string;
}

export class MasterIpKeeper {
  private held?: MasterIpParams;
  private chain: Promise<void> = Promise.resolve();
  private unfollow?: () => void;
  private lastError = '';

  constructor(private readonly svc: Services) {}

  get running(): boolean {
    return this.unfollow !== undefined;
  }

  /** Starts keeping the address here (idempotent); resolves once the first reconcile ran. */
  begin(): Promise<void> {
    if (this.unfollow) return this.chain;
    const stopCommits = this.svc.db.onCommit((changes) => {
      if (changes.some((c) => c.cls === 'pool')) void this.reconcile(false);
    });
    const self = this.svc.hostRef();
    const local = this.svc.hosts.peek(self);
    let active = true;
    // An agent restarted keeps the kernel's address, but a host rebooted does not.
    local?.onReconnect(() => {
      if (active) void this.reconcile(true);
    });
    this.unfollow = () => {
      active = false;
      stopCommits();
    };
    for (const ref of this.svc.hosts.refs()) if (ref !== self) void this.removeFrom(ref);
    return this.reconcile(true);
  }

  /** Stops keeping it (this host is no longer master); the new master removes it from here. */
  end(): void {
    this.unfollow?.();
    this.unfollow = undefined;
    this.held = undefined;
  }

  /** A member's agent (re)connected: it must not hold the address (an old master, say). */
  memberConnected(hostRef: string): Promise<void> {
    if (!this.unfollow || hostRef === this.svc.hostRef()) return Promise.resolve();
    return this.removeFrom(hostRef);
  }

  status(): MasterIpStatus {
    const w = this.wanted();
    const p = w && 'params' in w ? w.params : undefined;
    return {
      wanted: p ? `${p.ip}/${p.netmask}` : '',
      device: p?.netdev ?? '',
      active: Boolean(this.held && p && this.held.ip === p.ip && this.held.netmask === p.netmask),
      error: w && 'error' in w ? w.error : this.lastError,
    };
  }

  /** Resolves when the steps asked so far have run. */
  settled(): Promise<void> {
    return this.chain;
  }

  private wanted() {
    const pool = this.svc.db.get('pool', this.svc.poolRef());
    return wantedMasterIp(pool?.other_config as Record<string, string> | undefined);
  }

  private reconcile(force: boolean): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (!this.unfollow) return;
      const w = this.wanted();
      if (w && 'error' in w) log.warn('pool master IP not applied', { error: w.error });
      const want = w && 'params' in w ? w.params : undefined;
      const agent = this.svc.hosts.peek(this.svc.hostRef());
      if (!agent?.connected) return; // the agent's reconnection runs this again
      for (const step of masterIpSteps(this.held, want, force)) {
        try {
          await runStep(agent.masterIp, step);
          this.held = step.op === 'deactivate' ? undefined : step.params;
          this.lastError = '';
        } catch (error) {
          this.lastError = `${step.op} ${step.params.ip}/${step.params.netmask} on ${step.params.netdev}: ${String(error)}`;
          log.warn('pool master IP step failed', { error: this.lastError });
          return;
        }
      }
    });
    // A failure outside the steps (the database closing under it) must not stop later reconciles.
    this.chain = this.chain.catch((error) =>
      log.warn('pool master IP reconcile failed', { error: String(error) }),
    );
    return this.chain;
  }

  private async removeFrom(hostRef: string): Promise<void> {
    const w = this.wanted();
    const agent = this.svc.hosts.peek(hostRef);
    if (!w || !('params' in w) || !agent?.connected) return;
    try {
      const r = await agent.masterIp.node_deactivate_master_ip(w.params, false);
      if (r.changed) log.info('pool master IP removed from a member', { host: hostRef });
    } catch (error) {
      log.warn('pool master IP not removed from a member', { host: hostRef, error: String(error) });
    }
  }
}

function runStep(agent: MasterIpProcedures, step: MasterIpStep) {
  switch (step.op) {
    case 'activate':
      return agent.node_activate_master_ip(step.params, false);
    case 'deactivate':
      return agent.node_deactivate_master_ip(step.params, false);
    case 'netmask':
      return agent.node_change_master_netmask(
        step.old,
        step.params.netmask,
        step.params.ip,
        step.params.netdev,
      );
  }
}

const keepers = new WeakMap<Services, MasterIpKeeper>();

/** The one keeper of a manager's services. */
export function masterIpKeeper(svc: Services): MasterIpKeeper {
  let k = keepers.get(svc);
  if (!k) {
    k = new MasterIpKeeper(svc);
    keepers.set(svc, k);
  }
  return k;
}
