// xe vm-, host- and sr-data-source-list/record/query/forget (xapi's cli_operations): the object
// chosen by the usual selectors (vm=, host=, uuid=, any field), one at a time. list prints one
// record per data source, sorted by name, min/max as %.3f (inf, -inf); query prints the value %f.
import { requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import type { Table } from '../printer.js';
import { doMultiple, select } from '../select.js';
import { command } from './common.js';

type Kind = 'vm' | 'host' | 'sr';
const CLASS: Record<Kind, string> = { vm: 'VM', host: 'host', sr: 'SR' };
const SINGLE = {
  host: 'Multiple matching hosts found. Operation can only be performed on one host at a time',
  sr: 'Multiple matching SRs found. Operation can only be performed on one SR at a time',
};

/** OCaml's Printf "%.<n>f": nan, inf and -inf for the non-finite. */
export function ocamlFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  return x.toFixed(digits);
}

interface DataSourceRecord {
  name_label: string;
  name_description: string;
  enabled: boolean;
  standard: boolean;
  min: number;
  max: number;
  units: string;
}

/** The records xe prints for a list of data_source records (sorted by name). */
export function dataSourceTable(dss: DataSourceRecord[]): Table {
  return [...dss]
    .sort((a, b) => (a.name_label < b.name_label ? -1 : a.name_label > b.name_label ? 1 : 0))
    .map((d) => [
      ['name_label', d.name_label],
      ['name_description', d.name_description],
      ['enabled', String(d.enabled)],
      ['standard', String(d.standard)],
      ['min', ocamlFixed(Number(d.min), 3)],
      ['max', ocamlFixed(Number(d.max), 3)],
      ['units', d.units],
    ]);
}

/** A data-source command on one selected object of `kind`. */
function onOne(kind: Kind, name: string, op: (ctx: Ctx, ref: string) => Promise<void>): CommandSpec {
  const spec = command(name, async (ctx) => {
    const found = await select(ctx, {
      kind,
      own: [...spec.reqd, ...spec.optn],
      ...(kind === 'vm' ? { includeDom0: true } : {}),
    });
    // xapi's do_host_op/do_sr_op ~multiple:false words (select.ts words the VM one).
    if (found.length > 1 && kind !== 'vm') throw new CliError(SINGLE[kind]);
    await doMultiple(ctx, found, kind, (r) => op(ctx, r.ref), true);
  });
  return spec;
}

function commandsFor(kind: Kind): CommandSpec[] {
  const cls = CLASS[kind];
  const call = (ctx: Ctx, msg: string, args: unknown[]) => ctx.api.call(ctx.session, `${cls}.${msg}`, args);
  return [
    onOne(kind, `${kind}-data-source-list`, async (ctx, ref) => {
      ctx.p.table(dataSourceTable((await call(ctx, 'get_data_sources', [ref])) as DataSourceRecord[]));
    }),
    onOne(kind, `${kind}-data-source-record`, async (ctx, ref) => {
      await call(ctx, 'record_data_source', [ref, requireParam(ctx.params, 'data-source')]);
    }),
    onOne(kind, `${kind}-data-source-query`, async (ctx, ref) => {
      const v = await call(ctx, 'query_data_source', [ref, requireParam(ctx.params, 'data-source')]);
      ctx.p.list([ocamlFixed(Number(v), 6)]);
    }),
    onOne(kind, `${kind}-data-source-forget`, async (ctx, ref) => {
      await call(ctx, 'forget_data_source_archives', [ref, requireParam(ctx.params, 'data-source')]);
    }),
  ];
}

export const DATA_SOURCE_COMMANDS: CommandSpec[] = [
  ...commandsFor('vm'),
  ...commandsFor('host'),
  ...commandsFor('sr'),
];
