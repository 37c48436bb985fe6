// node_powercycle and host_power_action: the host's own reboot or shutdown, through a command the
// agent was configured with (none by default: refused). Ganeti answers first and acts 5 s later so
// the answer reaches the master; the agent does the same.
import { run } from '../../shared/exec.js';
import type { HostPowerAction } from '../../shared/host/host-ops.js';
import { logger } from '../../shared/log.js';
import { failed, invalid } from './failures.js';
import type { HostOpsConfig } from './options.js';

const log = logger('host-power');

export class HostPower {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly cfg: HostOpsConfig) {}

  private schedule(what: string, command: string[]): string {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      log.warn('host power action', { what, command: command[0] });
      run(command[0], command.slice(1), { timeoutMs: 60_000 }).catch((e: unknown) =>
        log.error('host power action failed', { what, error: String(e) }),
      );
    }, this.cfg.powerDelayMs);
    this.timers.add(timer);
    const secs = this.cfg.powerDelayMs / 1000;
    return `${what === 'shutdown' ? 'Shutdown' : 'Reboot'} scheduled in ${secs} seconds`;
  }

  powercycle(): string {
    if (!this.cfg.powercycleCommand)
      throw failed(
        'node_powercycle',
        'node_powercycle is disabled on this host (no powercycle command configured)',
      );
    return this.schedule('powercycle', this.cfg.powercycleCommand);
  }

  action(action: unknown): string {
    if (action !== 'reboot' && action !== 'shutdown') throw invalid('action', action);
    const command = action === 'reboot' ? this.cfg.rebootCommand : this.cfg.shutdownCommand;
    if (!command)
      throw failed(
        'host_power_action',
        `host ${action as HostPowerAction} is disabled on this host (no command configured)`,
      );
    return this.schedule(action, command);
  }

  /** Cancels what has not run yet (agent shutdown). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
