// PBD.*: connecting SRs to hosts. device_config is validated (paths confined to the storage
// roots) when a PBD is made or changed, and again by the agent on every use.
import { XenApiError } from '../../shared/errors.js';
import { createPbd, plugPbd, unplugPbd } from '../storage/sr-ops.js';
import { hostStorage } from '../storage/sr-host.js';
import { createRecord } from './implicit.js';
import type { HandlerTable } from './context.js';

export const pbdApi: HandlerTable = {
  handlers: {
    'PBD.create': (ctx, rec) => {
      const f = createRecord(ctx.svc.db, ctx.svc.db.classSpec('PBD'), rec);
      return createPbd(
        ctx.svc,
        String(f.host),
        String(f.SR),
        f.device_config as Record<string, string>,
        (f.other_config as Record<string, string>) ?? {},
      );
    },
    'PBD.destroy': (ctx, pbd) => {
      const row = ctx.svc.db.mustGet('PBD', pbd);
      if (row.currently_attached)
        throw new XenApiError('OPERATION_NOT_ALLOWED', ['PBD is currently attached']);
      ctx.svc.db.destroy('PBD', pbd);
    },
    'PBD.plug': async (ctx, pbd) => {
      await plugPbd(ctx.svc, pbd);
    },
    'PBD.unplug': (ctx, pbd) => unplugPbd(ctx.svc, pbd),
    'PBD.set_device_config': async (ctx, pbd, dc) => {
      const row = ctx.svc.db.mustGet('PBD', pbd);
      if (row.currently_attached)
        throw new XenApiError('OPERATION_NOT_ALLOWED', ['PBD is currently attached']);
      const sr = ctx.svc.db.mustGet('SR', String(row.SR));
      await hostStorage(ctx.svc, String(row.host)).storage_validate(String(sr.type), dc);
      ctx.svc.db.update('PBD', pbd, { device_config: { ...dc } });
    },
  },
};
