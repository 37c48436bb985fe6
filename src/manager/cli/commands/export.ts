// xe vm-export and snapshot-export-to-template, as xapi's Cli_operations.export_common: a task
// ("Export of VM", description = the VM's uuid, or the caller's task-uuid), then the client
// downloads `/export` (or `/export_metadata` with metadata=true) with ref, use_compression
// (compress=true|gzip|zstd, else false), preserve_power_state, export_snapshots
// (include-snapshots) and excluded_device_types; "Export succeeded" when the task succeeds.
// Several VMs (--multiple) go to filename, filename2, filename3 ...
import { boolParam, getParam } from '../args.js';
import type { Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { doMultiple, select } from '../select.js';
import { transferFile } from '../transfer.js';
import { command, refOf } from './common.js';

/** Compression_algorithms.of_string then to_string: true|gzip → gzip, zstd → zstd, else false. */
export function compressionParam(v: string | undefined): 'gzip' | 'zstd' | 'false' {
  return v === 'true' || v === 'gzip' ? 'gzip' : v === 'zstd' ? 'zstd' : 'false';
}

/** The query of xapi's export URL for one VM. */
export function exportQuery(ctx: Ctx, vm: string): { path: string; query: Record<string, string> } {
  const metadata = boolParam(ctx.params, 'metadata');
  const query: Record<string, string> = {
    ref: vm,
    use_compression: compressionParam(getParam(ctx.params, 'compress')),
    preserve_power_state: String(boolParam(ctx.params, 'preserve-power-state')),
    export_snapshots: String(boolParam(ctx.params, 'include-snapshots')),
  };
  if (metadata) query.excluded_device_types = getParam(ctx.params, 'excluded-device-types') ?? '';
  return { path: metadata ? '/export_metadata' : '/export', query };
}

async function exportOne(ctx: Ctx, vm: string, filename: string) {
  const taskUuid = getParam(ctx.params, 'task-uuid');
  const uuid = String(await ctx.api.call(ctx.session, 'VM.get_uuid', [vm]));
  let task: string | undefined;
  if (taskUuid !== undefined) task = String(await ctx.api.call(ctx.session, 'task.get_by_uuid', [taskUuid]));
  else task = String(await ctx.api.call(ctx.session, 'task.create', ['Export of VM', uuid]));
  try {
    const { path, query } = exportQuery(ctx, vm);
    await transferFile(ctx, { direction: 'get', filename, path, query, label: 'Export', task });
    ctx.io.print('Export succeeded');
  } finally {
    if (taskUuid === undefined)
      await ctx.api.call(ctx.session, 'task.destroy', [task]).catch(() => undefined);
  }
}

const vmExport = command('vm-export', async (ctx) => {
  const filename = getParam(ctx.params, 'filename') ?? '';
  const vms = await select(ctx, { kind: 'vm', own: [...vmExport.reqd, ...vmExport.optn, 'task-uuid'] });
  let n = 0;
  await doMultiple(ctx, vms, 'vm', async (vm) => {
    n++;
    await exportOne(ctx, vm.ref, n > 1 ? `${filename}${n}` : filename);
  });
});

const snapshotExport = command('snapshot-export-to-template', async (ctx) => {
  const uuid = getParam(ctx.params, 'snapshot-uuid') ?? '';
  const vm = await refOf(ctx, 'VM', uuid);
  if (!(await ctx.api.call(ctx.session, 'VM.get_is_a_snapshot', [vm])))
    throw new CliError(
      `This operation can only be performed on a VM snapshot. ${uuid} is not a VM snapshot.`,
    );
  await exportOne(ctx, vm, getParam(ctx.params, 'filename') ?? '');
});

export const EXPORT_COMMANDS = [vmExport, snapshotExport];
