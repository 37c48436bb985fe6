// Object selection for commands flagged with VM, host or SR selectors, and running an operation
// on each selected object (--multiple).
import { type Params, boolParam } from './args.js';
import type { Ctx } from './context.js';
import { CliError, MultipleFailure, errorText } from './errors.js';
import { type BoundRecord, allRecords, cliClass, filterRecords } from './records.js';

/** Parameters that never filter (xapi's stdparams). */
export const STDPARAMS = [
  'server',
  'password',
  'port',
  'username',
  'minimal',
  'force',
  'multiple',
  'all',
  'message-priority',
  'trace',
];

export interface SelectOptions {
  kind: 'vm' | 'host' | 'sr';
  /** Command parameters that are not filters. */
  own: string[];
  includeDom0?: boolean;
  includeTemplates?: boolean;
}

const WORDS = { vm: 'VMs', host: 'hosts', sr: 'hosts' } as const;

export async function select(ctx: Ctx, opts: SelectOptions): Promise<BoundRecord[]> {
  const k = cliClass(opts.kind)!;
  let records = await allRecords(ctx.api, ctx.session, ctx.resolver, k);
  const filters: Params = [];
  if (opts.kind === 'vm') {
    if (!opts.includeDom0) filters.push(['is-control-domain', 'false']);
    if (!opts.includeTemplates) filters.push(['is-a-template', 'false']);
  }
  for (const [p, v] of ctx.params) {
    if (STDPARAMS.includes(p) || opts.own.includes(p) || p === 'progress' || p === 'params') continue;
    if (p === opts.kind) {
      const match: BoundRecord[] = [];
      for (const r of records) {
        const keys = [r.row.uuid, r.row.name_label, ...(opts.kind === 'host' ? [r.row.hostname] : [])];
        if (keys.includes(v)) match.push(r);
      }
      records = match;
      continue;
    }
    filters.push([p, v]);
  }
  for (const [p, v] of filters) records = await filterRecords(records, p, v);
  return records;
}

/**
 * Runs `op` on the selected objects: none → "No matching …", several without --multiple (or a
 * single-target command) → refused; with --multiple, failures are collected per object.
 */
export async function doMultiple(
  ctx: Ctx,
  records: BoundRecord[],
  kind: SelectOptions['kind'],
  op: (r: BoundRecord) => Promise<void>,
  single = false,
) {
  const words = WORDS[kind];
  if (records.length === 0) throw new CliError(`No matching ${words} found`);
  if (records.length > 1) {
    if (single)
      throw new CliError(
        `Multiple matches ${words} found. Operation can only be performed on one VM at a time`,
      );
    if (!boolParam(ctx.params, 'multiple'))
      throw new CliError(
        kind === 'vm'
          ? `Multiple matches VMs found. --multiple required to complete the operation`
          : `Multiple matching ${words} found. --multiple required to complete the operation`,
      );
  }
  if (records.length === 1) return op(records[0]);
  const failures: [string, string][] = [];
  for (const r of records) {
    try {
      await op(r);
    } catch (e) {
      failures.push([String(r.row.uuid), errorText(e)]);
    }
  }
  if (failures.length) throw new MultipleFailure(failures);
}
