// The OS definition messages (Berth extensions, src/shared/datamodel/extensions/os.json):
// host.os_diagnose (a host's definitions, Ganeti's os_diagnose, in JSON text) and VM.run_os_rename
// (Ganeti's instance_run_rename on a halted VM's disks). docs/os-definitions.md.
import { XenApiError } from '../../shared/errors.js';
import { osFromOtherConfig } from '../../shared/host/os.js';
import { osInstance } from '../vm/os-install.js';
import type { HandlerTable } from './context.js';
import { agentOf } from './vm.js';

export const hostOsApi: HandlerTable = {
  handlers: {
    'host.os_diagnose': async (ctx, host) => {
      ctx.svc.db.mustGet('host', host);
      return JSON.stringify(await agentOf(ctx.svc, host).os.os_diagnose());
    },
    'VM.run_os_rename': async (ctx, vm, oldName) => {
      const { db } = ctx.svc;
      const rec = db.mustGet('VM', vm);
      if (rec.power_state !== 'Halted')
        throw new XenApiError('VM_BAD_POWER_STATE', [vm, 'halted', String(rec.power_state).toLowerCase()]);
      const named = osFromOtherConfig(rec.other_config as Record<string, string>);
      if (!named)
        throw new XenApiError('INVALID_VALUE', [
          'other_config:berth-os',
          '',
          'the VM names no OS definition',
        ]);
      const host = ctx.svc.hostRef();
      await agentOf(ctx.svc, host).os.instance_run_rename(
        osInstance(db, vm, host, named.os, named.params),
        oldName,
        0,
      );
    },
  },
};
