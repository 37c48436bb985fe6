// xe host-os-list (Berth extension): the OS definitions of a host (host.os_diagnose), one record
// each in xapi's layout; docs/os-definitions.md.
import { getParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { STDPARAMS } from '../select.js';
import type { OsDefinition } from '../../../shared/host/os.js';

async function hostRef(ctx: Ctx): Promise<string> {
  const uuid = getParam(ctx.params, 'host-uuid');
  if (uuid) return (await ctx.api.call(ctx.session, 'host.get_by_uuid', [uuid])) as string;
  const [pool] = (await ctx.api.call(ctx.session, 'pool.get_all', [])) as string[];
  return (await ctx.api.call(ctx.session, 'pool.get_master', [pool])) as string;
}

async function osList(ctx: Ctx) {
  const unknown = ctx.params.find(([p]) => !['host-uuid', 'name'].includes(p) && !STDPARAMS.includes(p));
  if (unknown) throw new CliError(`Unknown field '${unknown[0]}'`);
  const text = (await ctx.api.call(ctx.session, 'host.os_diagnose', [await hostRef(ctx)])) as string;
  const name = getParam(ctx.params, 'name');
  const defs = (JSON.parse(text) as OsDefinition[]).filter((d) => name === undefined || d.name === name);
  ctx.p.table(
    defs.map((d) => [
      ['name ( RO)', d.name],
      ['valid ( RO)', String(d.valid)],
      ['path ( RO)', d.path],
      ['api-versions (SRO)', d.api_versions.join('; ')],
      ['variants (SRO)', d.variants.join('; ')],
      ['parameters (MRO)', d.parameters.map(([n, h]) => `${n}: ${h}`).join('; ')],
      ['trusted ( RO)', String(d.trusted)],
      ['diagnose ( RO)', d.diagnose],
    ]),
  );
}

export const OS_COMMANDS: CommandSpec[] = [
  {
    name: 'host-os-list',
    reqd: [],
    optn: ['host-uuid', 'name'],
    help: "List the OS definitions in a host's OS search path (default: the pool master), valid or not, with why not. (Berth extension)",
    flags: [],
    run: osList,
  },
];
