// xe host-hooks-list (Berth extension; docs/hooks.md): the site hook scripts of each selected host
// (all hosts by default) and whether each would run, from host.list_hooks.
import type { CommandSpec, Ctx } from '../context.js';
import { select } from '../select.js';

async function hooksList(ctx: Ctx) {
  const hosts = await select(ctx, { kind: 'host', own: [] });
  for (const h of hosts) {
    const scripts = (await ctx.api.call(ctx.session, 'host.list_hooks', [h.ref])) as Record<string, string>;
    const uuid = String(h.row.uuid);
    ctx.p.table(
      Object.entries(scripts).map(([script, status]) => [
        ['host-uuid ( RO)', uuid],
        ['script ( RO)', script],
        ['status ( RO)', status],
      ]),
    );
  }
}

export const HOOKS_COMMANDS: CommandSpec[] = [
  {
    name: 'host-hooks-list',
    reqd: [],
    optn: [],
    help: 'Lists the site hook scripts of the selected hosts (all by default; host selectors as host-list) and whether each would run (Berth extension)',
    flags: [],
    run: hooksList,
  },
];
