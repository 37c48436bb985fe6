// XVA files: `berth vm -n NAME xva-export FILE [--compress gzip|zstd]` (also for templates and
// snapshots) and `berth vm xva-import FILE [--sr SR]`, over the manager's /export and /import as
// xe vm-export / vm-import, with a progress bar on a terminal.
import { CliError, EXIT_USAGE } from '../errors.js';
import type { VerbSpec } from '../spec.js';
import { optText, refOf, refsInResult, single } from './compute-common.js';

const COMPRESSIONS = ['none', 'gzip', 'zstd'];

export function xvaExportVerb(): VerbSpec {
  return {
    name: 'xva-export',
    summary: 'write the selected VM (its disks and metadata) to a new XVA file',
    target: 'one',
    long: true,
    options: [
      {
        short: 'z',
        long: 'compress',
        kind: 'value',
        help: 'compression: none (default), gzip or zstd',
        metavar: 'KIND',
      },
    ],
    examples: [
      'berth vm -n web01 xva-export web01.xva',
      'berth snapshot -n before-upgrade xva-export snap.xva -z zstd',
    ],
    run: async (ctx, target) => {
      const vm = single(target);
      if (ctx.args.length !== 1) throw new CliError('xva-export needs one FILE', EXIT_USAGE);
      const compress = optText(ctx.opts, 'compress') ?? 'none';
      if (!COMPRESSIONS.includes(compress))
        throw new CliError(`unknown compression '${compress}' (none, gzip, zstd)`, EXIT_USAGE);
      const { download } = await import('../http-transfer.js');
      await download(ctx.api, ctx.out, {
        path: '/export',
        query: { uuid: String(vm.record.uuid), use_compression: compress === 'none' ? 'false' : compress },
        file: ctx.args[0],
        label: 'XVA export',
      });
      return true;
    },
  };
}

export function xvaImportVerb(): VerbSpec {
  return {
    name: 'xva-import',
    summary: 'create VMs from an XVA file (disks into --sr, else the pool default SR)',
    target: 'none',
    long: true,
    options: [{ long: 'sr', kind: 'value', help: 'SR of the imported disks', metavar: 'SR' }],
    examples: ['berth vm xva-import web01.xva --sr "Local storage"'],
    run: async (ctx) => {
      if (ctx.args.length !== 1) throw new CliError('xva-import needs one FILE', EXIT_USAGE);
      const sr = optText(ctx.opts, 'sr');
      const query: Record<string, string> = {};
      if (sr) query.sr_id = await refOf(ctx.api, 'SR', sr);
      const { upload } = await import('../http-transfer.js');
      const result = await upload(ctx.api, ctx.out, {
        path: '/import',
        query,
        file: ctx.args[0],
        label: 'XVA import',
      });
      const vms = refsInResult(result);
      if (vms.length === 0) throw new CliError('the import made no VM');
      return { records: await Promise.all(vms.map((r) => ctx.api.byRef('VM', r))) };
    },
  };
}
