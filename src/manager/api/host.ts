// host.* and pool.* operations that need more than the generic getters/setters.
import { XenApiError } from '../../shared/errors.js';
import { toXapiTime } from '../time.js';
import type { HostTime } from '../vm/host-agent.js';
import type { HandlerTable, Services } from './context.js';
import { agentOf } from './vm.js';
import { disableHost, enableHost } from './host-enable.js';

/** This manager's own clock: the host it runs on. */
function ownClock(): HostTime {
  const now = new Date();
  return { utc: now.toISOString(), offset_minutes: -now.getTimezoneOffset() || 0 };
}

/** The clock of `host`: this manager's own, or the member's agent's (HOST_OFFLINE when it is offline). */
async function hostClock(svc: Services, host: string): Promise<HostTime> {
  svc.db.mustGet('host', host);
  if (host === svc.hostRef()) return ownClock();
  const agent = agentOf(svc, host);
  return agent.hostTime ? agent.hostTime() : ownClock();
}

export const hostApi: HandlerTable = {
  handlers: {
    'host.get_servertime': async (ctx, host) => toXapiTime(new Date((await hostClock(ctx.svc, host)).utc)),
    'host.get_server_localtime': async (ctx, host) => {
      const t = await hostClock(ctx.svc, host);
      return toXapiTime(new Date(Date.parse(t.utc) + t.offset_minutes * 60_000)).replace(/Z$/, '');
    },
    'host.list_methods': (ctx) => ctx.svc.listMethods,
    'host.get_log': (ctx, host) => {
      ctx.svc.db.mustGet('host', host);
      return '';
    },
    // host.compute_free_memory and compute_memory_overhead: api/placement.ts.
    'host.enable': (ctx, host) => enableHost(ctx, host),
    'host.disable': (ctx, host, autoEnable) => disableHost(ctx, host, autoEnable),
    'host.get_management_interface': (ctx, host) => {
      ctx.svc.db.mustGet('host', host);
      for (const [ref, pif] of ctx.svc.db.all('PIF')) if (pif.host === host && pif.management) return ref;
      throw new XenApiError('PIF_NOT_PRESENT', [host, 'management']);
    },
    'host.call_plugin': async (ctx, host, plugin, fn, args) => {
      ctx.svc.db.mustGet('host', host);
      return ctx.svc.hosts.get(host).callPlugin(plugin, fn, args);
    },
    'pool.get_license_state': (ctx, self) => {
      ctx.svc.db.mustGet('pool', self);
      return { edition: 'berth', expiry: 'never' };
    },
    // No extensions are installed; the object must still exist (xapi looks it up first).
    'pool.has_extension': (ctx, self, _name) => {
      ctx.svc.db.mustGet('pool', self);
      return false;
    },
    'host.has_extension': (ctx, host, _name) => {
      ctx.svc.db.mustGet('host', host);
      return false;
    },
  },
};
