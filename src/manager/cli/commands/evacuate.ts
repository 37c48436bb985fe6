// xe host-evacuate and host-get-vms-which-prevent-evacuation, as xapi's cli_operations: the first
// calls host.evacuate on the one selected host (it does not disable the host: maintenance mode is
// `xe host-disable` first); the second prints each blocking VM's uuid, name-label and reason.
import { getParam, requireParam } from '../args.js';
import type { Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { doMultiple, select } from '../select.js';
import { command, refOf } from './common.js';

const NULL_REF = 'OpaqueRef:NULL';

/** batch-size= as xapi reads it (an unsigned integer), 0 when absent (xapi.conf's default). */
function batchSize(ctx: Ctx): number {
  const v = getParam(ctx.params, 'batch-size');
  if (v === undefined) return 0;
  if (!/^\d+$/.test(v)) throw new CliError(`Invalid batch-size: ${v} (expected a non-negative integer)`);
  return Number(v);
}

const hostEvacuate = command('host-evacuate', async (ctx) => {
  const networkUuid = getParam(ctx.params, 'network-uuid');
  const network = networkUuid ? await refOf(ctx, 'network', networkUuid) : NULL_REF;
  const size = batchSize(ctx);
  const hosts = await select(ctx, { kind: 'host', own: [...hostEvacuate.reqd, ...hostEvacuate.optn] });
  await doMultiple(
    ctx,
    hosts,
    'host',
    async (h) => {
      await ctx.api.call(ctx.session, 'host.evacuate', [h.ref, network, size]);
    },
    true,
  );
});

export const EVACUATE_COMMANDS = [
  hostEvacuate,
  command('host-get-vms-which-prevent-evacuation', async (ctx) => {
    const host = await refOf(ctx, 'host', requireParam(ctx.params, 'uuid'));
    const vms = (await ctx.api.call(ctx.session, 'host.get_vms_which_prevent_evacuation', [host])) as Record<
      string,
      string[]
    >;
    for (const [vm, reason] of Object.entries(vms)) {
      const rec = (await ctx.api.call(ctx.session, 'VM.get_record', [vm])) as Record<string, unknown>;
      ctx.p.table([
        [
          ['uuid ( RO)', String(rec.uuid)],
          ['name-label ( RW)', String(rec.name_label)],
          ['reason ( RO)', reason.join(',')],
        ],
      ]);
    }
  }),
];
