// xe commands for host operations (docs/host-operations.md): host-verify and
// host-run-restricted-command (Berth extensions), and xapi's host-power-on, host-reboot and
// host-shutdown (host selectors, as xapi's cli_operations).
import { getParam, mapParams, requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { doMultiple, select } from '../select.js';
import { command, refOf } from './common.js';

/** A Berth command: not in xapi's table, so declared here with its help. */
function berthCommand(
  name: string,
  reqd: string[],
  optn: string[],
  help: string,
  run: (ctx: Ctx) => Promise<void>,
): CommandSpec {
  return { name, reqd, optn, help: `${help} (Berth extension)`, flags: [], run };
}

const hostCommand = (name: string, message: string) => {
  const spec = command(name, async (ctx) => {
    const hosts = await select(ctx, { kind: 'host', own: [...spec.reqd, ...spec.optn] });
    await doMultiple(ctx, hosts, 'host', async (h) => {
      await ctx.api.call(ctx.session, message, [h.ref]);
    });
  });
  return spec;
};

/** host.verify's `what`: keys of what= (comma-separated) and what:<key>=<argument>. */
export function verifyWhat(ctx: Ctx): Record<string, string> {
  const what: Record<string, string> = {};
  for (const key of (getParam(ctx.params, 'what') ?? '').split(',').map((s) => s.trim()))
    if (key) what[key] = '';
  for (const [k, v] of mapParams(ctx.params, 'what')) what[k] = v;
  return what;
}

export const HOST_OPS_COMMANDS: CommandSpec[] = [
  berthCommand(
    'host-verify',
    [],
    ['host-uuid', 'what', 'what:'],
    'Verify hosts (every host unless host-uuid= is given): what= lists the checks (hypervisor, filelist, bridges, storage, time, node-net-test, instancelist, version, user-scripts; default all but filelist and user-scripts), what:<check>=<argument> gives one its argument. Prints one JSON report per check.',
    async (ctx) => {
      const uuid = getParam(ctx.params, 'host-uuid');
      const hosts = uuid
        ? [{ ref: await refOf(ctx, 'host', uuid), uuid }]
        : await Promise.all(
            ((await ctx.api.call(ctx.session, 'host.get_all', [])) as string[]).map(async (ref) => ({
              ref,
              uuid: String(await ctx.api.call(ctx.session, 'host.get_uuid', [ref])),
            })),
          );
      const what = verifyWhat(ctx);
      const records = [];
      for (const h of hosts) {
        const report = (await ctx.api.call(ctx.session, 'host.verify', [h.ref, what])) as Record<
          string,
          string
        >;
        records.push([
          ['host-uuid ( RO)', h.uuid] as [string, string],
          ...Object.entries(report).map(([k, v]) => [`${k} ( RO)`, v] as [string, string]),
        ]);
      }
      ctx.p.table(records);
    },
  ),
  berthCommand(
    'host-run-restricted-command',
    ['host-uuid', 'name'],
    [],
    "Run one of the host's restricted commands (a file of its restricted commands directory) and print its output.",
    async (ctx) => {
      const host = await refOf(ctx, 'host', requireParam(ctx.params, 'host-uuid'));
      const out = await ctx.api.call(ctx.session, 'host.run_restricted_command', [
        host,
        requireParam(ctx.params, 'name'),
      ]);
      ctx.p.list([String(out)]);
    },
  ),
  hostCommand('host-power-on', 'host.power_on'),
  hostCommand('host-reboot', 'host.reboot'),
  hostCommand('host-shutdown', 'host.shutdown'),
];
