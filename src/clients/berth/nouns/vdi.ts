// `berth vdi` (oVirt's `disk`): virtual disks. create/remove/resize, and download/upload of the
// contents as raw, vhd or qcow2 over /export_raw_vdi and /import_raw_vdi (progress on a terminal).
import { CliError, EXIT_USAGE } from '../errors.js';
import { parseSize } from '../size.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';
import { defaultSr, optText, refOf, runTask, single } from './compute-common.js';
import { attachVdi, createVdi } from './vm-device-ops.js';

const FORMATS = ['raw', 'vhd', 'qcow2'];

function formatOf(opts: Record<string, unknown>): string {
  const f = optText(opts, 'format') ?? 'raw';
  if (!FORMATS.includes(f)) throw new CliError(`unknown disk format '${f}' (raw, vhd, qcow2)`, EXIT_USAGE);
  return f;
}

const formatOption = {
  short: 'f',
  long: 'format',
  kind: 'value' as const,
  help: 'raw (default), vhd or qcow2',
  metavar: 'FORMAT',
};

function createVerb(): VerbSpec {
  return {
    name: 'create',
    summary: 'create a disk (-n NAME -s SIZE [-d SR] [-D DESC] [-v VM: attached to it])',
    target: 'none',
    usesTemplate: true,
    options: [
      { short: 'n', long: 'name', kind: 'value', help: 'name of the disk', metavar: 'NAME' },
      { short: 's', long: 'size', kind: 'value', help: 'size (2G, 512M)', metavar: 'SIZE' },
      {
        short: 'd',
        long: 'sr',
        kind: 'value',
        help: 'SR (oVirt: storage domain; default: the pool default SR)',
        metavar: 'SR',
      },
      { short: 'D', long: 'description', kind: 'value', help: 'description', metavar: 'DESC' },
      { short: 'v', long: 'vm', kind: 'value', help: 'attach it to this VM', metavar: 'VM' },
    ],
    examples: ['berth vdi create -n data01 -s 20G -d "Local storage" -v web01'],
    run: async (ctx) => {
      const { api, opts } = ctx;
      const name = optText(opts, 'name');
      if (!name) throw new CliError('disk create needs a name (-n NAME)', EXIT_USAGE);
      if (opts.size === undefined) throw new CliError('disk create needs a size (-s SIZE)', EXIT_USAGE);
      const size = parseSize(opts.size as string | number);
      if (size <= 0) throw new CliError(`invalid disk size '${opts.size}'`, EXIT_USAGE);
      const srName = optText(opts, 'sr') ?? optText(opts, 'storage_domain');
      const sr = srName ? await refOf(api, 'SR', srName) : await defaultSr(api);
      const vmName = optText(opts, 'vm');
      const vm = vmName ? await refOf(api, 'VM', vmName) : undefined;
      const vdi = await createVdi(api, { sr, size, name, description: optText(opts, 'description') });
      if (vm)
        await attachVdi(api, vm, vdi, false).catch(async (e) => {
          await api.call('VDI.destroy', vdi).catch(() => undefined);
          throw e;
        });
      return api.byRef('VDI', vdi);
    },
  };
}

export const vdiNoun: NounSpec = {
  name: 'vdi',
  aliases: ['disk'],
  summary: 'virtual disks',
  xapiClass: 'VDI',
  // Disks, as oVirt lists them: a snapshot's disk images are reached through `berth snapshot`.
  filter: (r) => !r.is_a_snapshot,
  listColumns: ['name_label', 'uuid', 'virtual_size'],
  verbs: [
    listVerb(),
    exportVerb(),
    createVerb(),
    {
      name: 'remove',
      aliases: ['delete'],
      summary: 'destroy the disk (it must not be attached to a running VM)',
      target: 'one',
      run: async (ctx, target) => {
        await ctx.api.call('VDI.destroy', single(target).ref);
        return true;
      },
    },
    {
      name: 'resize',
      summary: 'grow the disk to SIZE (-s; online when its VM runs)',
      target: 'one',
      long: true,
      options: [{ short: 's', long: 'size', kind: 'value', help: 'the new size (20G)', metavar: 'SIZE' }],
      run: async (ctx, target) => {
        if (ctx.opts.size === undefined) throw new CliError('resize needs a size (-s SIZE)', EXIT_USAGE);
        const size = parseSize(ctx.opts.size as string | number);
        await runTask(ctx.api, ctx.out, 'resize', 'VDI.resize', single(target).ref, size);
        return true;
      },
    },
    {
      name: 'download',
      summary: "write the disk's contents to a new FILE (raw, vhd or qcow2)",
      target: 'one',
      long: true,
      options: [formatOption],
      examples: ['berth disk -n data01 download data01.qcow2 -f qcow2'],
      run: async (ctx, target) => {
        if (ctx.args.length !== 1) throw new CliError('download needs one FILE', EXIT_USAGE);
        const format = formatOf(ctx.opts);
        const { download } = await import('../http-transfer.js');
        await download(ctx.api, ctx.out, {
          path: '/export_raw_vdi',
          query: { vdi: single(target).ref, format },
          file: ctx.args[0],
          label: 'disk download',
        });
        return true;
      },
    },
    {
      name: 'upload',
      summary: "write FILE (raw, vhd or qcow2) into the disk's contents",
      target: 'one',
      long: true,
      options: [formatOption],
      examples: ['berth disk -n data01 upload image.raw'],
      run: async (ctx, target) => {
        if (ctx.args.length !== 1) throw new CliError('upload needs one FILE', EXIT_USAGE);
        const format = formatOf(ctx.opts);
        const { upload } = await import('../http-transfer.js');
        await upload(ctx.api, ctx.out, {
          path: '/import_raw_vdi',
          query: { vdi: single(target).ref, format },
          file: ctx.args[0],
          label: 'disk upload',
        });
        return true;
      },
    },
  ],
};
