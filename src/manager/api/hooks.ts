// host.list_hooks (Berth extension, src/shared/datamodel/extensions/hooks.json; docs/hooks.md):
// the site hook scripts on a host's agent and whether each would run.
import type { HandlerTable } from './context.js';

export const hooksApi: HandlerTable = {
  handlers: {
    'host.list_hooks': async (ctx, host) => {
      ctx.svc.db.mustGet('host', host);
      const list = await ctx.svc.hosts.get(host).hooks.hooks_list();
      return Object.fromEntries(
        list.map((s) => [`${s.dir}/${s.name}`, s.runnable ? 'runnable' : `skipped: ${s.reason}`]),
      );
    },
  },
};
