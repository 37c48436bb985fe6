// host.* and pool.* operations that need more than the generic getters/setters.
import { XenApiError } from '../../shared/errors.js';
import { nowXapi, toXapiTime } from '../time.js';
import type { HandlerTable } from './context.js';
import { disableHost, enableHost } from './host-enable.js';

export const hostApi: HandlerTable = {
  handlers: {
    'host.get_servertime': (ctx, host) => {
      ctx.svc.db.mustGet('host', host);
      return nowXapi();
    },
    'host.get_server_localtime': (ctx, host) => {
      ctx.svc.db.mustGet('host', host);
      const d = new Date();
      return toXapiTime(new Date(d.getTime() - d.getTimezoneOffset() * 60_000)).replace(/Z$/, '');
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
