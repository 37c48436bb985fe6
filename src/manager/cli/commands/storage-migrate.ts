// xe vm-migrate with storage arguments (xapi's "storage live migration" code path of
// cli_operations.vm_migrate: any vdi:/vif:/vgpu:/remote-* parameter), and xe vdi-pool-migrate.
// Plain `xe vm-migrate host=…` (VM.pool_migrate) is vm.ts's, which hands a command line with
// storage arguments to `storageVmMigrate`.
import { boolParam, getParam, hasParam, mapParams, type Params, requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import type { BoundRecord, Row } from '../records.js';
import { doMultiple, select } from '../select.js';
import { runAsync } from '../tasks.js';
import { command, refOf, uuidOf } from './common.js';

/**
 * The options map: force/live/copy as "true"/"false" and compress, each only when given (xapi's xe
 * passes them all; Berth honours live=false, so one not given must not mean "false").
 */
export function migrateOptions(params: Params): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['force', 'live', 'copy']) if (hasParam(params, k)) out[k] = String(boolParam(params, k));
  const compress = getParam(params, 'compress');
  if (compress !== undefined) out.compress = compress;
  return out;
}

const records = async (ctx: Ctx, cls: string) =>
  (await ctx.api.call(ctx.session, `${cls}.get_all_records`, [])) as Record<string, Row>;

async function hostRef(ctx: Ctx, v: string | undefined, vm: BoundRecord): Promise<string> {
  if (v === undefined) {
    // Berth: without host=, the disks move and the VM stays on its host.
    const here = String(vm.row.resident_on ?? '');
    if (here && here !== 'OpaqueRef:NULL') return here;
    throw new CliError('No destination host specified');
  }
  const hit = Object.entries(await records(ctx, 'host')).find(
    ([, h]) => h.hostname === v || h.name_label === v || h.uuid === v,
  );
  if (!hit) throw new CliError(`Failed to find host: ${v}`);
  return hit[0];
}

/** remote-network (bridge, name or uuid), else the destination host's management network. */
async function networkRef(ctx: Ctx, host: string): Promise<string> {
  const want = getParam(ctx.params, 'remote-network');
  const nets = await records(ctx, 'network');
  if (want !== undefined) {
    const hit = Object.entries(nets).find(
      ([, n]) => n.bridge === want || n.name_label === want || n.uuid === want,
    );
    if (!hit) throw new CliError(`Failed to find network: ${want}`);
    return hit[0];
  }
  const pif = Object.values(await records(ctx, 'PIF')).find((p) => p.host === host && p.management);
  if (pif) return String(pif.network);
  // Berth hosts without PIF records (networking off): any network; the host's address is used.
  const first = Object.keys(nets)[0];
  if (!first) throw new CliError(`Could not find management PIF on host ${await uuidOf(ctx, 'host', host)}`);
  return first;
}

/**
 * xe's preferred SR for disks left out of the map: of the SRs plugged on the destination, a
 * shared non-ISO one with the most free space, else a local non-ISO one.
 */
async function preferredSr(ctx: Ctx, host: string): Promise<string | undefined> {
  const srs = await records(ctx, 'SR');
  const plugged = Object.values(await records(ctx, 'PBD'))
    .filter((p) => p.host === host && p.currently_attached)
    .map((p) => String(p.SR));
  const free = (sr: string) =>
    Number(srs[sr]?.physical_size ?? 0) - Number(srs[sr]?.physical_utilisation ?? 0);
  const best = (shared: boolean) =>
    plugged
      .filter((sr) => srs[sr] && srs[sr].content_type !== 'iso' && Boolean(srs[sr].shared) === shared)
      .sort((a, b) => free(b) - free(a))[0];
  return best(true) ?? best(false);
}

/** Refuses a remote-master that is not this pool's master (no cross-pool migration in Berth yet). */
async function assertSamePool(ctx: Ctx) {
  const remote = getParam(ctx.params, 'remote-master');
  if (remote === undefined) return;
  const [pool] = Object.values(await records(ctx, 'pool'));
  const master = (await records(ctx, 'host'))[String(pool?.master)];
  const names = [
    master?.address,
    master?.hostname,
    master?.name_label,
    master?.uuid,
    'localhost',
    '127.0.0.1',
  ];
  if (!names.includes(remote))
    throw new CliError(`remote-master ${remote}: cross-pool migration is not supported by Berth yet`);
}

async function storageMigrate(ctx: Ctx, vm: BoundRecord) {
  await assertSamePool(ctx);
  ctx.p.msg("Performing a storage live migration. Your VM's VDIs will be migrated with the VM.");
  const host = await hostRef(ctx, getParam(ctx.params, 'host'), vm);
  const network = await networkRef(ctx, host);
  const vdiMap: Record<string, string> = {};
  for (const [vdi, sr] of mapParams(ctx.params, 'vdi'))
    vdiMap[await refOf(ctx, 'VDI', vdi)] = await refOf(ctx, 'SR', sr);
  const vifMap: Record<string, string> = {};
  for (const [vif, net] of mapParams(ctx.params, 'vif'))
    vifMap[await refOf(ctx, 'VIF', vif)] = await refOf(ctx, 'network', net);
  const preferred = await preferredSr(ctx, host);
  if (preferred) {
    for (const vbd of (vm.row.VBDs as string[]) ?? []) {
      const b = (await ctx.api.call(ctx.session, 'VBD.get_record', [vbd])) as Row;
      if (b.type === 'CD' || b.empty) continue;
      if (!(String(b.VDI) in vdiMap)) vdiMap[String(b.VDI)] = preferred;
    }
  }
  const hostName = String(await ctx.api.call(ctx.session, 'host.get_name_label', [host]));
  const netName = String(await ctx.api.call(ctx.session, 'network.get_name_label', [network]));
  ctx.p.msg(
    `Will migrate to remote host: ${hostName}, using remote network: ${netName}. Here is the VDI mapping:`,
  );
  for (const [vdi, sr] of Object.entries(vdiMap))
    ctx.p.msg(`VDI ${await uuidOf(ctx, 'VDI', vdi)} -> SR ${await uuidOf(ctx, 'SR', sr)}`);
  const options = migrateOptions(ctx.params);
  const dest = await ctx.api.call(ctx.session, 'host.migrate_receive', [host, network, options]);
  await runAsync(ctx, 'VM.migrate_send', [vm.ref, dest, true, vdiMap, vifMap, options, {}, {}]);
}

/**
 * xe vm-migrate with storage arguments on the VMs selected (the vdi:/vif:/vgpu:/image-format: maps
 * are not filters); vm.ts's vm-migrate hands such a command line here.
 */
export async function storageVmMigrate(ctx: Ctx, spec: CommandSpec) {
  const own = [...spec.optn.filter((p) => !p.endsWith(':')), 'host-name'];
  const filtered = {
    ...ctx,
    params: ctx.params.filter(
      ([k]) => !['vdi:', 'vif:', 'vgpu:', 'image-format:'].some((p) => k.startsWith(p)),
    ),
  };
  const vms = await select(filtered, { kind: 'vm', own, includeTemplates: true });
  await doMultiple(ctx, vms, 'vm', (vm) => storageMigrate(ctx, vm));
}

const vdiPoolMigrate = command('vdi-pool-migrate', async (ctx) => {
  const vdi = await refOf(ctx, 'VDI', requireParam(ctx.params, 'uuid'));
  const sr = await refOf(ctx, 'SR', requireParam(ctx.params, 'sr-uuid'));
  const options: Record<string, string> = {};
  if (hasParam(ctx.params, 'dest-img-format'))
    options['dest-img-format'] = requireParam(ctx.params, 'dest-img-format');
  const moved = await runAsync(ctx, 'VDI.pool_migrate', [vdi, sr, options]);
  ctx.p.list([await uuidOf(ctx, 'VDI', moved)]);
});

export const STORAGE_MIGRATE_COMMANDS: CommandSpec[] = [vdiPoolMigrate];
