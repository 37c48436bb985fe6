// `berth pif` (oVirt's host NIC; alias hostnic — `nic` is the VM's, vif): the physical and VLAN/bond interfaces of the hosts. `-n` selects
// by device name (`berth pif -n eth0 plug`; in a pool add `-s host=…` or use the uuid).
import { usageError } from '../errors.js';
import { hostOrMaster, one } from '../infra/lookup.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

const MODES: Record<string, string> = { dhcp: 'DHCP', static: 'Static', none: 'None' };

function simple(name: 'plug' | 'unplug', summary: string): VerbSpec {
  return {
    name,
    summary,
    target: 'one',
    run: async (ctx, target) => {
      await ctx.api.call(`PIF.${name}`, one(target).ref);
      return true;
    },
  };
}

const reconfigureIp: VerbSpec = {
  name: 'reconfigure-ip',
  aliases: ['reconfigure_ip', 'ip'],
  summary: "set the PIF's IPv4 configuration (PIF.reconfigure_ip)",
  examples: [
    'berth pif -n eth1 reconfigure-ip -m static -a 10.0.0.2 -N 255.255.255.0 -g 10.0.0.1',
    'berth pif -n eth1 reconfigure-ip -m dhcp',
  ],
  target: 'one',
  options: [
    { short: 'm', long: 'mode', kind: 'value', help: 'dhcp, static or none' },
    { short: 'a', long: 'ip', kind: 'value', help: 'address (static)' },
    { short: 'N', long: 'netmask', kind: 'value', help: 'netmask (static)' },
    { short: 'g', long: 'gateway', kind: 'value', help: 'gateway' },
    { long: 'dns', kind: 'value', help: 'DNS servers, comma-separated' },
  ],
  run: async (ctx, target) => {
    const { opts } = ctx;
    const mode = MODES[String(opts.mode ?? '').toLowerCase()];
    if (!mode) throw usageError(`the mode (-m) is dhcp, static or none, not '${String(opts.mode ?? '')}'`);
    const s = (v: unknown) => (v === undefined ? '' : String(v));
    await ctx.api.call(
      'PIF.reconfigure_ip',
      one(target).ref,
      mode,
      s(opts.ip),
      s(opts.netmask),
      s(opts.gateway),
      s(opts.dns),
    );
    return true;
  },
};

const scan: VerbSpec = {
  name: 'scan',
  summary: "find the host's new NICs (PIF.scan)",
  target: 'none',
  options: [{ short: 'H', long: 'host', kind: 'value', help: 'host to scan (default: the master)' }],
  run: async (ctx) => {
    await ctx.api.call('PIF.scan', (await hostOrMaster(ctx.api, ctx.opts.host as string | undefined)).ref);
    return true;
  },
};

const forget: VerbSpec = {
  name: 'forget',
  aliases: ['remove'],
  summary: 'forget the PIF (PIF.forget; the NIC itself stays)',
  target: 'one',
  run: async (ctx, target) => {
    await ctx.api.call('PIF.forget', one(target).ref);
    return true;
  },
};

export const pifNoun: NounSpec = {
  name: 'pif',
  aliases: ['hostnic'],
  summary: "the hosts' network interfaces (physical, VLAN, bond)",
  xapiClass: 'PIF',
  nameField: 'device',
  listColumns: ['device', 'uuid'],
  verbs: [
    listVerb(),
    exportVerb(),
    simple('plug', 'bring the PIF up (PIF.plug)'),
    simple('unplug', 'take the PIF down (PIF.unplug)'),
    reconfigureIp,
    scan,
    forget,
  ],
};
