// Host operations through XenAPI (issue 18; docs/host-operations.md): host.verify and
// host.run_restricted_command (Berth extensions, src/shared/datamodel/extensions/host-ops.json),
// and xapi's host.power_on, host.reboot and host.shutdown.
//
// host.power_on follows the host's power_on_mode: `wake-on-lan` sends a magic packet to the MAC of
// the host's management PIF from a live member's agent; `berth-oob` runs the OOB program of
// power_on_config on a live member (run_oob `power-on`); `` is refused, and iLO/DRAC/custom modes
// (xapi's plugins) fail: Berth has no such plugins. host.reboot / host.shutdown keep xapi's
// preconditions (the host disabled, no running guest: evacuate first) and end in the agent's
// configured power command.
import { XenApiError, internalError } from '../../shared/errors.js';
import type { NodeVerifyRequest } from '../../shared/host/host-ops.js';
import { AGENT_TCP_PORT } from '../../shared/noded/transport.js';
import type { Database } from '../db/database.js';
import type { CallContext, HandlerTable, Services } from './context.js';

const VERIFY_KEYS = [
  'hypervisor',
  'filelist',
  'bridges',
  'storage',
  'time',
  'node-net-test',
  'instancelist',
  'version',
  'user-scripts',
] as const;
const DEFAULT_VERIFY_KEYS = [
  'hypervisor',
  'bridges',
  'storage',
  'time',
  'node-net-test',
  'instancelist',
  'version',
];

const isNull = (ref: unknown) => ref === undefined || ref === '' || ref === 'OpaqueRef:NULL';
const csv = (v: string | undefined) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** The bridges of the networks of the host's PIFs. */
function hostBridges(db: Database, host: string): string[] {
  const out = new Set<string>();
  for (const pif of db.all('PIF').values()) {
    if (pif.host !== host || isNull(pif.network)) continue;
    const bridge = db.get('network', String(pif.network))?.bridge;
    if (bridge) out.add(String(bridge));
  }
  return [...out];
}

/** Every other member's agent (by host uuid), or the `name=address:port` list given. */
function netTestTargets(db: Database, host: string, arg: string | undefined) {
  if (arg) {
    return csv(arg).map((item) => {
      const m = /^([^=]+)=(.+):(\d+)$/.exec(item);
      if (!m) throw new XenApiError('INVALID_VALUE', ['node-net-test', item.slice(0, 200)]);
      return { name: m[1], address: m[2].replace(/^\[(.*)\]$/, '$1'), port: Number(m[3]) };
    });
  }
  const out: { name: string; address: string; port: number }[] = [];
  for (const [ref, h] of db.all('host'))
    if (ref !== host && h.address)
      out.push({ name: String(h.uuid), address: String(h.address), port: AGENT_TCP_PORT });
  return out;
}

/** The request node_verify gets for host.verify's `what`. */
export function verifyRequest(db: Database, host: string, what: Record<string, string>): NodeVerifyRequest {
  const keys = Object.keys(what).length ? Object.keys(what) : DEFAULT_VERIFY_KEYS;
  const req: NodeVerifyRequest = {};
  for (const key of keys) {
    const arg = what[key];
    switch (key) {
      case 'hypervisor':
      case 'storage':
      case 'time':
      case 'instancelist':
      case 'version':
        req[key] = true;
        break;
      case 'filelist':
      case 'user-scripts':
        req[key] = csv(arg);
        break;
      case 'bridges':
        req.bridges = arg ? csv(arg) : hostBridges(db, host);
        break;
      case 'node-net-test':
        req['node-net-test'] = netTestTargets(db, host, arg);
        break;
      default:
        throw new XenApiError('INVALID_VALUE', [
          'what',
          `${key.slice(0, 100)} (known: ${VERIFY_KEYS.join(', ')})`,
        ]);
    }
  }
  return req;
}

/** VMs the pool and the agent disagree on: running there unknown to the pool, or the reverse. */
function instanceMismatch(db: Database, host: string, running: string[]) {
  const expected = new Set<string>();
  for (const vm of db.all('VM').values())
    if (vm.resident_on === host && !vm.is_control_domain && vm.power_state !== 'Halted')
      expected.add(String(vm.uuid));
  return {
    unknown_to_pool: running.filter((u) => !expected.has(u)),
    not_running: [...expected].filter((u) => !running.includes(u)),
  };
}

async function verifyHost(
  ctx: CallContext,
  host: string,
  what: Record<string, string>,
): Promise<Record<string, string>> {
  ctx.svc.db.mustGet('host', host);
  const req = verifyRequest(ctx.svc.db, host, what);
  const agent = ctx.svc.hosts.get(host);
  const before = Date.now();
  const report = await agent.hostOps.node_verify(req);
  const after = Date.now();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(report)) out[k] = JSON.stringify(v);
  if (report.time) {
    // The host's clock against the middle of the call on the master's.
    const hostMs = report.time[0] * 1000 + report.time[1] / 1000;
    out['time-drift'] = JSON.stringify(Math.round((hostMs - (before + after) / 2) / 10) / 100);
  }
  if (report.instancelist)
    out['instancelist-mismatch'] = JSON.stringify(instanceMismatch(ctx.svc.db, host, report.instancelist));
  return out;
}

/** A live member other than `host` whose agent sends for it: this manager's own host first. */
function liveSender(svc: Services, host: string, prefer?: string): string {
  const candidates = [prefer, svc.hostRef(), ...svc.db.all('host').keys()].filter(
    (h): h is string => Boolean(h) && h !== host,
  );
  const found = candidates.find((h) => svc.hosts.live(h));
  if (!found) throw internalError('The host failed to power on: no live pool member can reach it');
  return found;
}

function managementMac(db: Database, host: string): string {
  const pifs = [...db.all('PIF').values()].filter((p) => p.host === host);
  const pif = pifs.find((p) => p.management) ?? pifs.find((p) => p.physical);
  const mac = pif?.MAC ? String(pif.MAC) : '';
  if (!mac) throw internalError('The host failed to power on: it has no management PIF with a MAC address');
  return mac;
}

function hostByUuid(db: Database, uuid: string | undefined): string | undefined {
  if (!uuid) return undefined;
  for (const [ref, h] of db.all('host')) if (h.uuid === uuid) return ref;
  throw new XenApiError('UUID_INVALID', ['host', uuid]);
}

async function powerOn(ctx: CallContext, host: string): Promise<void> {
  const db = ctx.svc.db;
  const row = db.mustGet('host', host);
  if (ctx.svc.hosts.live(host)) throw new XenApiError('HOST_IS_LIVE', [host]);
  const mode = String(row.power_on_mode ?? '');
  const config = (row.power_on_config ?? {}) as Record<string, string>;
  switch (mode) {
    case '':
      throw new XenApiError('HOST_POWER_ON_MODE_DISABLED', []);
    case 'wake-on-lan': {
      const sender = liveSender(ctx.svc, host);
      const port = config.port ? Number(config.port) : null;
      const mac = config.mac ?? managementMac(db, host);
      await ctx.svc.hosts.get(sender).hostOps.wake_on_lan(mac, config.address ?? null, port);
      return;
    }
    case 'berth-oob': {
      if (!config.program) throw internalError('The host failed to power on: power_on_config has no program');
      const sender = liveSender(ctx.svc, host, hostByUuid(db, config.member));
      const node = config.node ?? String(row.hostname || row.address || row.uuid);
      const timeout = config.timeout ? Number(config.timeout) : 60;
      await ctx.svc.hosts.get(sender).hostOps.run_oob(config.program, 'power-on', node, timeout);
      return;
    }
    default:
      throw internalError(
        `The host failed to power on: power_on_mode ${mode.slice(0, 60)} has no plugin in Berth (use wake-on-lan or berth-oob)`,
      );
  }
}

/** xapi's assert_bacon_mode: the host disabled and running no guest. */
function assertBaconMode(db: Database, host: string): void {
  const row = db.mustGet('host', host);
  if (row.enabled) throw new XenApiError('HOST_NOT_DISABLED', []);
  for (const [ref, vm] of db.all('VM'))
    if (vm.resident_on === host && vm.power_state === 'Running' && !vm.is_control_domain)
      throw new XenApiError('HOST_IN_USE', [host, 'vm', ref]);
}

async function powerAction(ctx: CallContext, host: string, action: 'reboot' | 'shutdown'): Promise<void> {
  assertBaconMode(ctx.svc.db, host);
  await ctx.svc.hosts.get(host).hostOps.host_power_action(action);
}

export const hostOpsApi: HandlerTable = {
  handlers: {
    'host.verify': (ctx, host, what) => verifyHost(ctx, host, what),
    'host.run_restricted_command': async (ctx, host, name) => {
      ctx.svc.db.mustGet('host', host);
      return ctx.svc.hosts.get(host).hostOps.restricted_command(name);
    },
    'host.power_on': (ctx, host) => powerOn(ctx, host),
    'host.reboot': (ctx, host) => powerAction(ctx, host, 'reboot'),
    'host.shutdown': (ctx, host) => powerAction(ctx, host, 'shutdown'),
  },
};
