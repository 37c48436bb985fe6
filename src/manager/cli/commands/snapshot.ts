// Snapshot commands of xapi's xe that the VM commands do not cover: snapshot-revert (VM.revert
// of the snapshot named by snapshot-uuid or uuid) and vm-snapshot-with-quiesce (xapi removed VSS:
// the call fails with the server's error), as xapi's Cli_operations does them.
import { getParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { doMultiple, select } from '../select.js';
import { runAsync } from '../tasks.js';
import { command, refOf, uuidOf } from './common.js';

/** The snapshot the command names (snapshot-uuid, else uuid), refused unless it is a snapshot. */
async function snapshotOf(ctx: Ctx): Promise<string> {
  const uuid = getParam(ctx.params, 'snapshot-uuid') ?? getParam(ctx.params, 'uuid');
  if (uuid === undefined) throw new CliError('Required parameter not found: snapshot-uuid or uuid.');
  const ref = await refOf(ctx, 'VM', uuid);
  if (!(await ctx.api.call(ctx.session, 'VM.get_is_a_snapshot', [ref])))
    throw new CliError(
      `This operation can only be performed on a VM snapshot. ${uuid} is not a VM snapshot.`,
    );
  return ref;
}

const quiescedSnapshot = command('vm-snapshot-with-quiesce', async (ctx) => {
  const vms = await select(ctx, { kind: 'vm', own: [...quiescedSnapshot.reqd, ...quiescedSnapshot.optn] });
  await doMultiple(
    ctx,
    vms,
    'vm',
    async (vm) => {
      const name = getParam(ctx.params, 'new-name-label') ?? '';
      const ref = await runAsync(ctx, 'VM.snapshot_with_quiesce', [vm.ref, name]);
      ctx.p.list([await uuidOf(ctx, 'VM', ref)]);
    },
    true,
  );
});

export const SNAPSHOT_COMMANDS: CommandSpec[] = [
  command('snapshot-revert', async (ctx) => {
    await runAsync(ctx, 'VM.revert', [await snapshotOf(ctx)]);
  }),
  quiescedSnapshot,
];
