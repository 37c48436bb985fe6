// xe commands over the master-ip slice's extension messages (issue 18; src/manager/api/master-ip.ts):
// the pool's floating management address status and sr-set-location (Ganeti's
// file_storage_dir_rename). The address itself is set with
// `xe pool-param-set uuid=<pool> other-config:berth-master-ip=10.0.0.5/24 other-config:berth-master-ip-device=xenbr0`.
import { requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { refOf } from './common.js';

const call = (ctx: Ctx, msg: string, args: unknown[]) => ctx.api.call(ctx.session, msg, args);

async function masterIpStatus(ctx: Ctx) {
  const pools = (await call(ctx, 'pool.get_all', [])) as string[];
  const s = (await call(ctx, 'pool.get_master_ip_status', [pools[0]])) as Record<string, string>;
  ctx.p.table([Object.entries(s).map(([k, v]): [string, string] => [`${k} ( RO)`, v])]);
}

async function srSetLocation(ctx: Ctx) {
  const sr = await refOf(ctx, 'SR', requireParam(ctx.params, 'uuid'));
  await call(ctx, 'SR.set_location', [sr, requireParam(ctx.params, 'location')]);
}

export const MASTER_IP_COMMANDS: CommandSpec[] = [
  {
    name: 'pool-master-ip-status',
    reqd: [],
    optn: [],
    help: "Shows the pool's floating management address: wanted (other-config:berth-master-ip), device (other-config:berth-master-ip-device), the master holding it, whether it is active, the last error. (Berth extension)",
    flags: [],
    run: masterIpStatus,
  },
  {
    name: 'sr-set-location',
    reqd: ['uuid', 'location'],
    optn: [],
    help: "Moves a file SR's directory to location (under the agent's SR roots; the SR unplugged on every host) and updates its PBDs' device-config:location (Ganeti's file_storage_dir_rename). (Berth extension)",
    flags: [],
    run: srSetLocation,
  },
];
