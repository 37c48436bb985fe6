// xe commands over the node-storage extension messages (issue 18, slice bdev-misc;
// src/manager/api/node-storage.ts): a host's storage units, block-device sizes and watcher pause,
// and vdi-wipe. Berth extensions: listed by `xe help --all` and `xe help <command>`.
import { getParam, requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { refOf } from './common.js';

function berthCommand(
  name: string,
  reqd: string[],
  optn: string[],
  help: string,
  run: (ctx: Ctx) => Promise<void>,
): CommandSpec {
  return { name, reqd, optn, help: `${help} (Berth extension)`, flags: [], run };
}

const call = (ctx: Ctx, msg: string, args: unknown[]) => ctx.api.call(ctx.session, msg, args);
const hostOf = (ctx: Ctx) => refOf(ctx, 'host', requireParam(ctx.params, 'host-uuid'));
const list = (v: string | undefined) =>
  v
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];

function integer(name: string, v: string): number {
  if (!/^[0-9]+$/.test(v)) throw new CliError(`${name} must be a non-negative integer: ${v}`);
  return Number(v);
}

async function storageList(ctx: Ctx) {
  const units = (await call(ctx, 'host.get_storage_units', [
    await hostOf(ctx),
    requireParam(ctx.params, 'type'),
    list(getParam(ctx.params, 'fields')),
  ])) as Record<string, Record<string, string>>;
  ctx.p.table(
    Object.entries(units).map(([name, f]) => [
      ['name ( RO)', name],
      ...Object.entries(f)
        .filter(([k]) => k !== 'name')
        .map(([k, v]): [string, string] => [`${k} ( RO)`, v]),
    ]),
  );
}

async function bdevSizes(ctx: Ctx) {
  const sizes = (await call(ctx, 'host.get_block_device_sizes', [
    await hostOf(ctx),
    list(requireParam(ctx.params, 'devices')),
  ])) as Record<string, number>;
  ctx.p.table(
    Object.entries(sizes).map(([dev, mib]) => [
      ['device ( RO)', dev],
      ['size-mib ( RO)', String(mib)],
    ]),
  );
}

async function watcherPause(ctx: Ctx) {
  const host = await hostOf(ctx);
  const until = getParam(ctx.params, 'until');
  if (until !== undefined) await call(ctx, 'host.set_watcher_pause', [host, integer('until', until)]);
  ctx.p.list([String(await call(ctx, 'host.get_watcher_pause', [host]))]);
}

async function vdiWipe(ctx: Ctx) {
  const vdi = await refOf(ctx, 'VDI', requireParam(ctx.params, 'uuid'));
  await call(ctx, 'VDI.wipe', [
    vdi,
    integer('offset', getParam(ctx.params, 'offset') ?? '0'),
    integer('size', requireParam(ctx.params, 'size')),
  ]);
}

export const NODE_STORAGE_COMMANDS: CommandSpec[] = [
  berthCommand(
    'host-storage-list',
    ['host-uuid', 'type'],
    ['fields'],
    "Lists a host's storage units (Ganeti's storage_list): type=lvm-vg, lvm-pv or file; fields=name,size,used,free,allocatable,type[,vg] (MiB).",
    storageList,
  ),
  berthCommand(
    'host-bdev-sizes',
    ['host-uuid', 'devices'],
    [],
    'Sizes in MiB of block devices of a host (devices=/dev/sdb,/dev/sdc); others are left out.',
    bdevSizes,
  ),
  berthCommand(
    'host-watcher-pause',
    ['host-uuid'],
    ['until'],
    "Prints (and with until= sets; 0 ends it) the epoch second until which the automatic restart of protected VMs is paused on the host's agent.",
    watcherPause,
  ),
  berthCommand(
    'vdi-wipe',
    ['uuid', 'size'],
    ['offset'],
    'Zeroes size MiB of a VDI not attached to any VM, from offset MiB (default 0).',
    vdiWipe,
  ),
];
