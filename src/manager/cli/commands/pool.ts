// Pool membership commands, as xe's: pool-join runs on the joining host; the others on the master
// (the emergency ones on a slave).
import { boolParam, requireParam } from '../args.js';
import type { CommandSpec } from '../context.js';
import { command, refOf } from './common.js';

export const POOL_COMMANDS: CommandSpec[] = [
  command('pool-join', async (ctx) => {
    const wire = boolParam(ctx.params, 'force') ? 'pool.join_force' : 'pool.join';
    await ctx.api.call(ctx.session, wire, [
      requireParam(ctx.params, 'master-address'),
      requireParam(ctx.params, 'master-username'),
      requireParam(ctx.params, 'master-password'),
    ]);
  }),
  command('pool-eject', async (ctx) => {
    const host = await refOf(ctx, 'host', requireParam(ctx.params, 'host-uuid'));
    await ctx.api.call(ctx.session, 'pool.eject', [host]);
  }),
  command('pool-designate-new-master', async (ctx) => {
    const host = await refOf(ctx, 'host', requireParam(ctx.params, 'host-uuid'));
    await ctx.api.call(ctx.session, 'pool.designate_new_master', [host]);
  }),
  command('pool-recover-slaves', async (ctx) => {
    await ctx.api.call(ctx.session, 'pool.recover_slaves', []);
  }),
  command('pool-emergency-transition-to-master', async (ctx) => {
    await ctx.api.call(ctx.session, 'pool.emergency_transition_to_master', []);
  }),
  command('pool-emergency-reset-master', async (ctx) => {
    await ctx.api.call(ctx.session, 'pool.emergency_reset_master', [
      requireParam(ctx.params, 'master-address'),
    ]);
  }),
];
