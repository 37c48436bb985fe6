// pool.* membership operations and host.destroy, handed to the pool service (src/manager/pool/).
import { XenApiError } from '../../shared/errors.js';
import type { PoolService } from '../pool/service.js';
import type { CallContext, HandlerTable } from './context.js';

function poolOf(ctx: CallContext): PoolService {
  const pool = ctx.svc.pool;
  if (!pool) throw new XenApiError('NOT_IMPLEMENTED', [ctx.msg.wire]);
  return pool;
}

export const poolApi: HandlerTable = {
  handlers: {
    'pool.join': (ctx, address: string, user: string, password: string) =>
      poolOf(ctx).join(address, user, password, false),
    'pool.join_force': (ctx, address: string, user: string, password: string) =>
      poolOf(ctx).join(address, user, password, true),
    'pool.eject': (ctx, host: string) => poolOf(ctx).eject(host),
    'pool.designate_new_master': (ctx, host: string) => poolOf(ctx).designateNewMaster(host),
    'pool.emergency_transition_to_master': (ctx) => poolOf(ctx).emergencyTransitionToMaster(),
    'pool.emergency_reset_master': (ctx, address: string) => poolOf(ctx).emergencyResetMaster(address),
    'pool.recover_slaves': (ctx) => poolOf(ctx).recoverSlaves(),
    'host.destroy': (ctx, host: string) => poolOf(ctx).destroyHost(host),
  },
};
