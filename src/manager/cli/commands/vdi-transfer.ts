// xe vdi-export / vdi-import, as xapi's Cli_operations.vdi_export / vdi_import: the VDI named by
// `uuid` is sent to (or filled from) the client's file through /export_raw_vdi /
// /import_raw_vdi with `vdi=<ref>`, `format=` and (export) `base=` passed through as given.
import { getParam, requireParam } from '../args.js';
import type { Ctx } from '../context.js';
import { transferFile } from '../transfer.js';
import { command, refOf } from './common.js';

function query(ctx: Ctx, vdi: string, names: string[]): Record<string, string> {
  const q: Record<string, string> = { vdi };
  for (const n of names) {
    const v = getParam(ctx.params, n);
    if (v !== undefined) q[n] = v;
  }
  return q;
}

export const VDI_TRANSFER_COMMANDS = [
  command('vdi-export', async (ctx) => {
    const vdi = await refOf(ctx, 'VDI', requireParam(ctx.params, 'uuid'));
    await transferFile(ctx, {
      direction: 'get',
      filename: requireParam(ctx.params, 'filename'),
      path: '/export_raw_vdi',
      query: query(ctx, vdi, ['format', 'base']),
      label: 'VDI export',
    });
  }),
  command('vdi-import', async (ctx) => {
    const vdi = await refOf(ctx, 'VDI', requireParam(ctx.params, 'uuid'));
    await transferFile(ctx, {
      direction: 'put',
      filename: requireParam(ctx.params, 'filename'),
      path: '/import_raw_vdi',
      query: query(ctx, vdi, ['format']),
      label: 'VDI import',
    });
  }),
];
