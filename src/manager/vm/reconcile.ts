// Keeps VM power states true to what the host agent reports: state changes it pushes (guest
// powered off, rebooted, crashed, QEMU died) and a full reconciliation after every (re)connection,
// e.g. when the manager or the agent restarted while VMs kept running.
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import { createMessage } from '../api/message.js';
import { recordHalted } from '../api/vm.js';
import type { Row } from '../db/database.js';
import type { HostAgent, InstanceEvent, InstanceInfo } from './host-agent.js';
import { afterAgentReconnect } from './migration-recovery.js';
import { setPowerState } from './vm-state.js';
import { statsAfterReconnect } from '../stats/hooks.js';

const log = logger('reconcile');

function vmByUuid(svc: Services, uuid: string): [string, Row] | undefined {
  const ref = svc.db.refByUuid('VM', uuid);
  const row = ref && svc.db.get('VM', ref);
  return ref && row ? [ref, row] : undefined;
}

/**
 * Is a lifecycle operation that ends the domain already in charge of this VM? A migration is: the
 * source's QEMU pauses and stops as it hands over, which is not the VM's state.
 */
function stoppingByApi(vm: Row): boolean {
  const ops = Object.values((vm.current_operations as Record<string, string>) ?? {});
  return ops.some((o) =>
    [
      'clean_shutdown',
      'hard_shutdown',
      'shutdown',
      'suspend',
      'clean_reboot',
      'hard_reboot',
      'start',
      'start_on',
      'resume',
      'resume_on',
      'pool_migrate',
      'migrate_send',
    ].includes(o),
  );
}

function note(svc: Services, vm: Row, name: string, body: string) {
  try {
    createMessage({ svc }, name, 3, 'VM', String(vm.uuid), body);
  } catch (e) {
    log.warn('could not record message', { error: String(e) });
  }
}

/**
 * A state change `host`'s agent pushed. Only the host the VM is resident on speaks for it: a
 * report from another host's agent (a stale instance there, or a start still in flight) is not
 * the VM's state.
 */
export function applyInstanceEvent(
  svc: Services,
  e: InstanceEvent,
  restart: (vm: string) => Promise<void>,
  host = svc.hostRef(),
): void {
  const found = vmByUuid(svc, e.uuid);
  if (!found) return;
  const [ref, vm] = found;
  if (vm.is_control_domain) return;
  // A host speaks only for the VMs resident on it (a VM that moved on is another host's now).
  if (isRef(vm.resident_on) && vm.resident_on !== host) return;
  switch (e.state) {
    case 'running':
      if (vm.power_state === 'Paused' && !stoppingByApi(vm)) setPowerState(svc.db, ref, 'Running');
      return;
    case 'paused':
      if (vm.power_state === 'Running' && !stoppingByApi(vm)) setPowerState(svc.db, ref, 'Paused');
      return;
    case 'shutdown':
    case 'crashed':
    case 'absent': {
      if (stoppingByApi(vm) || vm.power_state === 'Halted' || vm.power_state === 'Suspended') return;
      const crashed = e.state !== 'shutdown';
      const action = String(crashed ? vm.actions_after_crash : vm.actions_after_shutdown);
      recordHalted(svc.db, ref);
      if (crashed) {
        note(svc, vm, 'VM_CRASHED', `VM ${vm.name_label} stopped unexpectedly (${e.reason ?? e.state}).`);
      }
      if (action === 'restart' || action === 'coredump_and_restart') {
        restart(ref).catch((err) => log.warn('restart after stop failed', { vm: ref, error: String(err) }));
      }
      return;
    }
    default:
      return;
  }
}

const isRef = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== 'OpaqueRef:NULL';

/** Brings the database in line with the view of `host`'s agent after a (re)connection. */
export function reconcile(
  svc: Services,
  instances: InstanceInfo[],
  host = svc.hostRef(),
): { halted: string[]; adopted: string[] } {
  const byUuid = new Map(instances.map((i) => [i.uuid, i]));
  const halted: string[] = [];
  const adopted: string[] = [];
  for (const [ref, vm] of [...svc.db.all('VM')]) {
    if (vm.is_control_domain) continue;
    const inst = byUuid.get(String(vm.uuid));
    const alive = inst && (inst.state === 'running' || inst.state === 'paused');
    if ((vm.power_state === 'Running' || vm.power_state === 'Paused') && vm.resident_on === host) {
      if (!alive) {
        recordHalted(svc.db, ref);
        note(
          svc,
          vm,
          'VM_CRASHED',
          `The QEMU process of VM ${vm.name_label} was gone when Berth reconnected to the host agent; the VM is now Halted.`,
        );
        halted.push(ref);
      } else {
        const want = inst.state === 'paused' ? 'Paused' : 'Running';
        if (vm.power_state !== want) setPowerState(svc.db, ref, want);
      }
    } else if (alive && vm.power_state === 'Halted' && (!isRef(vm.resident_on) || vm.resident_on === host)) {
      // Running although the database says Halted (e.g. the manager died mid-start): adopt it.
      setPowerState(svc.db, ref, inst.state === 'paused' ? 'Paused' : 'Running');
      svc.db.update('VM', ref, { resident_on: host });
      adopted.push(ref);
    }
  }
  if (halted.length || adopted.length)
    log.info('reconciled', { halted: halted.length, adopted: adopted.length });
  return { halted, adopted };
}

/**
 * Wires the agent of `host` (this manager's own by default, another member's over TCP) into the
 * manager: its events, and reconciliation of that host's VMs on every (re)connection.
 */
export function attachAgent(
  svc: Services,
  agent: HostAgent,
  restart: (vm: string) => Promise<void>,
  host = svc.hostRef(),
) {
  svc.hosts.attach(host, agent);
  agent.onEvent((e) => applyInstanceEvent(svc, e, restart, host));
  agent.onReconnect(() => {
    agent
      .all()
      .then((list) => {
        reconcile(svc, list, host);
        void afterAgentReconnect(svc, host); // migrations it took part in (migration-recovery.ts)
        void statsAfterReconnect(svc, host); // settings, RRDs left there (stats/hooks.ts)
      })
      .catch((e) => log.warn('reconciliation failed', { error: String(e) }));
  });
}
