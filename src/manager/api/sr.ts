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
      host: string,
      deviceConfig: Record<string, string>,
      physicalSize: number,
      nameLabel: string,
      nameDescription: string,
      type: string,
      contentType: string,
      shared: boolean,
      smConfig: Record<string, string>,
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
    'SR.introduce': (
      ctx,
      uuid: string,
      nameLabel: string,
      nameDescription: string,
      type: string,
      contentType: string,
      shared: boolean,
      smConfig: Record<string, string>,
    ) =>
      introduceSr(ctx.svc, {
        uuid,
        nameLabel,
        nameDescription,
        type,
        contentType,
        shared,
        smConfig: smConfig ?? {},
      }),
    'SR.destroy': (ctx, sr: string) => destroySr(ctx.svc, sr),
    'SR.forget': (ctx, sr: string) => forgetSr(ctx.svc, sr),
    'SR.scan': async (ctx, sr: string) => {
      await scanSr(ctx.svc, sr);
    },
    'SR.update': (ctx, sr: string) => updateSr(ctx.svc, sr),
    'SR.probe': (ctx, host: string, dc: Record<string, string>, type: string) => {
      ctx.svc.db.mustGet('host', host);
      return probeSr(ctx.svc, type, dc ?? {});
    },
    'SR.get_supported_types': (ctx) => knownDrivers(ctx.svc).map((d) => d.type),
    'SR.set_name_label': (ctx, sr: string, v: string) => {
      ctx.svc.db.mustGet('SR', sr);
      ctx.svc.db.update('SR', sr, { name_label: v });
    },
    'SR.set_name_description': (ctx, sr: string, v: string) => {
      ctx.svc.db.mustGet('SR', sr);
      ctx.svc.db.update('SR', sr, { name_description: v });
    },
    'SR.set_shared': (ctx, sr: string, v: boolean) => {
      const row = ctx.svc.db.mustGet('SR', sr);
      checkSetter(ctx, 'SR.set_shared', sr, [v]); // false: at most one PBD (setter-rules.ts)
      // Local drivers cannot be reached from another host.
      if (v && driverInfoOf(ctx.svc, String(row.type)))
        throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr]);
      ctx.svc.db.update('SR', sr, { shared: v });
    },
    'SR.set_physical_size': (ctx, sr: string, v: number) => {
      ctx.svc.db.mustGet('SR', sr);
      if (!Number.isSafeInteger(v) || v < 0)
        throw new XenApiError('INVALID_VALUE', ['physical_size', String(v)]);
      ctx.svc.db.update('SR', sr, { physical_size: v });
    },
  },
};
