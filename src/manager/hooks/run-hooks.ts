// Site hooks around XenAPI operations (issue 18; docs/hooks.md), as Ganeti's HooksMaster runs
// them around its opcodes: the operation's pre hooks on the pool master and the hosts concerned,
// a failing one refusing the operation (XAPI_HOOK_FAILED) before anything changed; after success
// its post hooks on the same hosts, whose failures are only reported. Every result lands in the
// call's task (other_config `hooks:<phase>:<host>:<script>`). One wrapper, applied to the handler
// table by message name (withHooks), so no operation carries its own copy.
import { XenApiError } from '../../shared/errors.js';
import type { HookPhase, HookResult } from '../../shared/host/hooks.js';
import { logger } from '../../shared/log.js';
import type { CallContext, Handler, Services } from '../api/context.js';
import type { HostAgent } from '../vm/host-agent.js';
import { assertOperationValid } from '../vm/lifecycle.js';
import { masterOf } from '../vm/reservation.js';
import { commonEnv, envValue, type HookEnv, hostEnv, srEnv, vmEnv } from './hook-env.js';

const log = logger('hooks');

type Args = readonly unknown[];

/** What an operation's hooks are: their path, object, hosts and variables. */
interface HookSpec {
  /** The directory stem: `<hooks dir>/<hpath>-{pre,post}.d`. */
  hpath: string;
  objectType: 'VM' | 'HOST' | 'SR' | 'POOL';
  /** VM operations: xapi's validity check runs first, so hooks never run for a refused call. */
  vmOp?: boolean;
  /** Hosts concerned beyond the master, and the operation's variables (pre phase). */
  pre(svc: Services, args: Args): { hosts: string[]; env: HookEnv };
  /** Hosts concerned after success beyond the pre ones, and BERTH_POST_* variables. */
  post?(svc: Services, args: Args, result: unknown): { hosts: string[]; env: HookEnv };
}

const isNull = (ref: unknown) => ref === undefined || ref === null || ref === '' || ref === 'OpaqueRef:NULL';
const residentOf = (svc: Services, vm: unknown): string[] => {
  const r = svc.db.get('VM', String(vm))?.resident_on;
  return isNull(r) ? [] : [String(r)];
};

/** A VM operation: hosts are where the VM is (and `targetArg`'s host), variables the VM's. */
function vmHooks(hpath: string, extra: HookEnv = {}, targetArg?: number): HookSpec {
  return {
    hpath,
    objectType: 'VM',
    vmOp: true,
    pre: (svc, args) => {
      const target = targetArg === undefined ? undefined : String(args[targetArg]);
      if (target) svc.db.mustGet('host', target); // HANDLE_INVALID before any hook runs
      return {
        hosts: [...residentOf(svc, args[0]), ...(target ? [target] : [])],
        env: { ...vmEnv(svc.db, String(args[0])), ...hostEnv(svc.db, 'BERTH_TARGET_HOST', target), ...extra },
      };
    },
    post: (svc, args) => ({
      hosts: residentOf(svc, args[0]),
      env: vmEnv(svc.db, String(args[0]), 'BERTH_POST_VM'),
    }),
  };
}

/** pool.join(_force): on the joining host (this one), its own pool's master until the join succeeds. */
const JOIN_HOOKS: HookSpec = {
  hpath: 'host-join',
  objectType: 'HOST',
  pre: (svc, args) => ({
    hosts: [svc.hostRef()],
    env: { ...hostEnv(svc.db, 'BERTH_NODE', svc.hostRef()), BERTH_JOIN_MASTER_ADDRESS: envValue(args[0]) },
  }),
  post: (svc) => ({ hosts: [svc.hostRef()], env: {} }),
};

/** The hooked messages (docs/hooks.md has the table). */
export const HOOKED: Readonly<Record<string, HookSpec>> = {
  'VM.start': vmHooks('vm-start'),
  'VM.start_on': vmHooks('vm-start', {}, 1),
  'VM.clean_shutdown': vmHooks('vm-shutdown', { BERTH_SHUTDOWN_MODE: 'clean' }),
  'VM.shutdown': vmHooks('vm-shutdown', { BERTH_SHUTDOWN_MODE: 'clean' }),
  'VM.hard_shutdown': vmHooks('vm-shutdown', { BERTH_SHUTDOWN_MODE: 'hard' }),
  'VM.clean_reboot': vmHooks('vm-reboot', { BERTH_REBOOT_MODE: 'clean' }),
  'VM.hard_reboot': vmHooks('vm-reboot', { BERTH_REBOOT_MODE: 'hard' }),
  'VM.pool_migrate': vmHooks('vm-migrate', {}, 1),
  'VM.destroy': vmHooks('vm-destroy'),
  'pool.join': JOIN_HOOKS,
  'pool.join_force': JOIN_HOOKS,
  'pool.eject': {
    hpath: 'host-eject',
    objectType: 'HOST',
    pre: (svc, args) => {
      svc.db.mustGet('host', String(args[0]));
      return { hosts: [String(args[0])], env: hostEnv(svc.db, 'BERTH_NODE', String(args[0])) };
    },
    // The ejected host is gone (it resets itself): the post hooks run on the master only.
    post: () => ({ hosts: [], env: {} }),
  },
  'SR.create': {
    hpath: 'sr-create',
    objectType: 'SR',
    pre: (svc, args) => {
      const host = String(args[0]);
      svc.db.mustGet('host', host);
      return {
        hosts: [host],
        env: {
          ...hostEnv(svc.db, 'BERTH_TARGET_HOST', host),
          BERTH_SR_NAME: envValue(args[3]),
          BERTH_SR_TYPE: envValue(args[5]),
          BERTH_SR_CONTENT_TYPE: envValue(args[6]),
          BERTH_SR_SHARED: args[7] ? 'true' : 'false',
        },
      };
    },
    post: (svc, _args, result) => ({ hosts: [], env: srEnv(svc.db, String(result), 'BERTH_POST_SR') }),
  },
  'SR.destroy': {
    hpath: 'sr-destroy',
    objectType: 'SR',
    pre: (svc, args) => {
      const pbds = (svc.db.mustGet('SR', String(args[0])).PBDs as string[]) ?? [];
      const hosts = pbds.map((p) => svc.db.get('PBD', p)?.host).filter((h) => !isNull(h));
      return { hosts: hosts.map(String), env: srEnv(svc.db, String(args[0])) };
    },
  },
};

/** One host's results of one phase. */
export interface HostHookResults {
  host: string;
  hostName: string;
  results: HookResult[];
  /** Set when the host could not run its hooks (offline agent, RPC failure): not a refusal. */
  unreachable?: string;
}

const unique = (xs: string[]) => [...new Set(xs)];

/** Runs one phase on every host at once (Ganeti's parallel RPC), in the order given. */
export async function runPhase(
  svc: Services,
  hosts: string[],
  hpath: string,
  phase: HookPhase,
  env: HookEnv,
  /** Clients taken before the operation, for a host whose client it closed (pool.join's own). */
  before?: ReadonlyMap<string, HostAgent | undefined>,
): Promise<HostHookResults[]> {
  return Promise.all(
    hosts.map(async (host): Promise<HostHookResults> => {
      const hostName = String(svc.db.get('host', host)?.name_label ?? host);
      const unreachable = (why: string): HostHookResults => {
        log.warn('hooks not run on an unreachable host', { host: hostName, hpath, phase, why });
        return { host, hostName, results: [], unreachable: why };
      };
      // This host's own agent (a Unix socket: a dead one fails at once) is asked even while its
      // event channel reconnects; another host must be live.
      const own = host === svc.hostRef() ? (svc.hosts.peek(host) ?? before?.get(host)) : undefined;
      const agent = own ?? (svc.hosts.live(host) ? svc.hosts.get(host) : undefined);
      if (!agent) return unreachable('host agent not connected');
      try {
        const results = await agent.hooks.hooks_runner(hpath, phase, {
          ...env,
          ...hostEnv(svc.db, 'BERTH_HOST', host),
        });
        return { host, hostName, results };
      } catch (e) {
        // Ganeti: a node that cannot be asked is reported, never a refusal.
        return unreachable(e instanceof Error ? e.message : String(e));
      }
    }),
  );
}

/** The task other_config entries of one phase's results. */
export function taskEntries(phase: HookPhase, all: HostHookResults[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of all) {
    if (h.unreachable) out[`hooks:${phase}:${h.hostName}`] = `unreachable: ${h.unreachable}`.slice(0, 1000);
    for (const r of h.results) {
      const status = r.exit_code === null ? r.status : `${r.status} (exit ${r.exit_code})`;
      const output = r.output.trim();
      out[`hooks:${phase}:${h.hostName}:${r.name}`] = (output ? `${status}: ${output}` : status).slice(-1000);
    }
  }
  return out;
}

function record(ctx: CallContext, phase: HookPhase, all: HostHookResults[]) {
  const ref = ctx.task?.ref;
  const entries = taskEntries(phase, all);
  if (!ref || Object.keys(entries).length === 0) return;
  const { db } = ctx.svc;
  const task = db.get('task', ref);
  if (!task) return;
  db.update('task', ref, { other_config: { ...((task.other_config as object) ?? {}), ...entries } });
}

/** The pre phase's first failing script as xapi's XAPI_HOOK_FAILED [hook_name, reason, stdout, exit_code]. */
export function preHookError(wire: string, all: HostHookResults[]): XenApiError | undefined {
  for (const h of all)
    for (const r of h.results)
      if (r.status === 'fail')
        return new XenApiError('XAPI_HOOK_FAILED', [
          r.name,
          `pre hook of ${wire} failed on host ${h.hostName}${r.timed_out ? ' (time limit)' : ''}`,
          r.output,
          r.exit_code === null ? '' : String(r.exit_code),
        ]);
  return undefined;
}

/** `h` with its operation's hooks around it. */
function hooked(wire: string, spec: HookSpec, h: Handler): Handler {
  return async (ctx: CallContext, ...args: never[]) => {
    const { svc } = ctx;
    if (spec.vmOp) {
      const vm = String(args[0]);
      assertOperationValid(vm, svc.db.mustGet('VM', vm), wire.slice('VM.'.length));
    }
    const master = masterOf(svc);
    const taskUuid = ctx.task ? String(svc.db.get('task', ctx.task.ref)?.uuid ?? '') : undefined;
    const common = (phase: HookPhase) =>
      commonEnv(
        svc.db,
        { hpath: spec.hpath, wire, objectType: spec.objectType, phase },
        svc.poolRef(),
        master,
        {
          taskUuid,
          user: ctx.session.userName,
        },
      );
    const before = spec.pre(svc, args);
    const preHosts = unique([master, ...before.hosts]);
    const pre = await runPhase(svc, preHosts, spec.hpath, 'pre', { ...common('pre'), ...before.env });
    // pool.join hands this host's agent to the new master and closes its client here: the post
    // phase asks it through the client taken now.
    const clients = new Map(preHosts.map((host) => [host, svc.hosts.peek(host)]));
    record(ctx, 'pre', pre);
    const refused = preHookError(wire, pre);
    if (refused) throw refused;
    const result = await h(ctx, ...args);
    // The operation is done: nothing about its post hooks may turn it into a failure (a host that
    // just joined a pool is a slave now, whose write fence refuses the task update, say).
    try {
      const after = spec.post?.(svc, args, result) ?? { hosts: [], env: {} };
      const post = await runPhase(
        svc,
        unique([...preHosts, ...after.hosts]),
        spec.hpath,
        'post',
        {
          ...common('post'),
          ...before.env,
          ...after.env,
        },
        clients,
      );
      for (const hr of post)
        for (const r of hr.results)
          if (r.status === 'fail')
            log.warn('post hook failed', { op: wire, host: hr.hostName, hook: r.name });
      record(ctx, 'post', post);
    } catch (e) {
      log.warn('post hooks not run or not recorded', {
        op: wire,
        error: e instanceof Error ? e.message : String(e),
      });
    }
    return result;
  };
}

/** The handler table with every hooked message's handler wrapped (messages without one: as they are). */
export function withHooks(handlers: Record<string, Handler>): Record<string, Handler> {
  const out = { ...handlers };
  for (const [wire, spec] of Object.entries(HOOKED)) {
    const h = handlers[wire];
    if (h) out[wire] = hooked(wire, spec, h);
  }
  return out;
}
