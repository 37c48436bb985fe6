// host.os_diagnose (Berth extension, src/shared/datamodel/extensions/os.json): the OS definitions
// of a host's agent, as Ganeti's os_diagnose, in JSON text (docs/os-definitions.md).
import type { HandlerTable } from './context.js';
import { agentOf } from './vm.js';

export const hostOsApi: HandlerTable = {
  handlers: {
    'host.os_diagnose': async (ctx, host) => {
      ctx.svc.db.mustGet('host', host);
      return JSON.stringify(await agentOf(ctx.svc, host).os.os_diagnose());
    },
  },
};
