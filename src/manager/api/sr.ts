// SR.*: create/introduce/destroy/forget, scan/update/probe and the explicit setters.
import { XenApiError } from '../../shared/errors.js';
import { driverInfoOf } from '../storage/records.js';
import { createSr, destroySr, forgetSr, introduceSr, probeSr, scanSr, updateSr } from '../storage/sr-ops.js';
import { knownDrivers } from '../storage/sr-host.js';
import type { HandlerTable } from './context.js';
import { checkSetter } from './setters.js';

export const srApi: HandlerTable = {
  handlers: {
    'SR.create': (
      ctx,
      host,
      deviceConfig,
      physicalSize,
      nameLabel,
      nameDescription,
      type,
      contentType,
      shared,
      smConfig,
    ) =>
      createSr(ctx.svc, {
        host,
        deviceConfig,
        physicalSize,
        nameLabel,
        nameDescription,
        type,
        contentType,
        shared,
        smConfig: smConfig ?? {},
      }),
    'SR.introduce': (ctx, uuid, nameLabel, nameDescription, type, contentType, shared, smConfig) =>
      introduceSr(ctx.svc, {
        uuid,
        nameLabel,
        nameDescription,
        type,
        contentType,
        shared,
        smConfig: smConfig ?? {},
      }),
    'SR.destroy': (ctx, sr) => destroySr(ctx.svc, sr),
    'SR.forget': (ctx, sr) => forgetSr(ctx.svc, sr),
    'SR.scan': async (ctx, sr) => {
      await scanSr(ctx.svc, sr);
    },
    'SR.update': (ctx, sr) => updateSr(ctx.svc, sr),
    // sm_config tunes xapi's SM backends' probes; Berth's drivers probe from device_config alone.
    'SR.probe': (ctx, host, dc, type, _smConfig) => {
      ctx.svc.db.mustGet('host', host);
      return probeSr(ctx.svc, type, dc ?? {});
    },
    'SR.get_supported_types': (ctx) => knownDrivers(ctx.svc).map((d) => d.type),
    'SR.set_name_label': (ctx, sr, v) => {
      ctx.svc.db.mustGet('SR', sr);
      ctx.svc.db.update('SR', sr, { name_label: v });
    },
    'SR.set_name_description': (ctx, sr, v) => {
      ctx.svc.db.mustGet('SR', sr);
      ctx.svc.db.update('SR', sr, { name_description: v });
    },
    'SR.set_shared': (ctx, sr, v) => {
      const row = ctx.svc.db.mustGet('SR', sr);
      checkSetter(ctx, 'SR.set_shared', sr, [v]); // false: at most one PBD (setter-rules.ts)
      // Local drivers cannot be reached from another host; nfs and file directories can.
      const info = driverInfoOf(ctx.svc, String(row.type));
      if (v && info && !info.shareable) throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr]);
      ctx.svc.db.update('SR', sr, { shared: v });
    },
    'SR.set_physical_size': (ctx, sr, v) => {
      ctx.svc.db.mustGet('SR', sr);
      if (!Number.isSafeInteger(v) || v < 0)
        throw new XenApiError('INVALID_VALUE', ['physical_size', String(v)]);
      ctx.svc.db.update('SR', sr, { physical_size: v });
    },
  },
};
