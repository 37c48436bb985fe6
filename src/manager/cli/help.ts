// `xe help`, `xe help --all`, `xe help <command>` and their --minimal forms, laid out as xapi does.
import type { Params } from './args.js';
import type { CommandSpec } from './context.js';
import type { Printer } from './printer.js';
import { wrapList } from './printer.js';

const SELECTOR_INFO: Record<string, [string, string]> = {
  Vm_selectors: [
    '<vm-selectors>',
    " VMs can be specified by filtering the full list of VMs on the values of zero or more fields. For example, specifying 'uuid=<some_uuid>' will select only the VM with that uuid, and 'power-state=halted' will select only VMs whose 'power-state' field is equal to 'halted'. The special pseudo-field 'vm' matches either of name-label or uuid. Where multiple VMs are matching, the option '--multiple' must be specified to perform the operation. The full list of fields that can be matched can be obtained by the command 'xe vm-list params=all'. If no parameters to select VMs are given, the operation will be performed on all VMs.",
  ],
  Sr_selectors: [
    '<sr-selectors>',
    " SRs can be specified by filtering the full list of SRs on the values of zero or more fields. For example, specifying 'uuid=<some_uuid>' will select only the sr with that uuid, and 'enabled=true' will select only srs whose 'enabled' field is equal to 'true'. The special pseudo-field 'sr' matches either of name-label or uuid. Where multiple SRs are matching, and the operation can be performed on multiple SRs, the option '--multiple' must be specified to perform the operation. The full list of fields that can be matched can be obtained by the command 'xe sr-list params=all'. If no parameters to select SRs are given, the operation will be performed on all SRs.",
  ],
  Host_selectors: [
    '<host-selectors>',
    " Hosts can be specified by filtering the full list of hosts on the values of zero or more fields. For example, specifying 'uuid=<some_uuid>' will select only the host with that uuid, and 'enabled=true' will select only hosts whose 'enabled' field is equal to 'true'. The special pseudo-field 'host' matches any of hostname, name-label or uuid. Where multiple hosts are matching, and the operation can be performed on multiple hosts, the option '--multiple' must be specified to perform the operation. The full list of fields that can be matched can be obtained by the command 'xe host-list params=all'. If no parameters to select hosts are given, the operation will be performed on all hosts.",
  ],
};

const usage = (argv0: string) => `Usage:
  ${argv0} <command>
    [ -s <server> ]            XenServer host
    [ -p <port> ]              XenServer port number
    [ -u <username> -pw <password> | -pwf <password file> ]
                               User authentication (password or file)
    [ --nossl ]                Disable SSL/TLS
    [ --debug ]                Enable debug output
    [ --debug-on-fail ]        Enable debug output only on failure
    [ --traceparent <value> ]  Distributed tracing context
    [ <other arguments> ... ]  Command-specific options

To get help on a specific command:
  ${argv0} help <command>

`;

/** The 4-field record describing one command. */
export function commandHelp(c: CommandSpec): [string, string][] {
  const sel = c.flags.filter((f) => f in SELECTOR_INFO);
  const optional = [...c.optn, ...sel.map((f) => SELECTOR_INFO[f][0])];
  const desc = sel.length === 1 ? c.help + SELECTOR_INFO[sel[0]][1] : c.help;
  return [
    ['command name        ', c.name],
    ['reqd params     ', c.reqd.join(', ')],
    ['optional params ', optional.join(', ')],
    ['description     ', desc],
  ];
}

export function help(p: Printer, table: Map<string, CommandSpec>, params: Params) {
  const named = params.filter(
    ([k]) => !['server', 'username', 'password', 'port', 'minimal', 'all'].includes(k),
  );
  if (named.length) {
    for (const [name] of named) {
      const c = table.get(name);
      if (c) p.table([commandHelp(c)]);
      else p.list([`Unknown command '${name}'`]);
    }
    return;
  }
  const visible = [...table.values()].filter((c) => !c.flags.includes('Hidden'));
  const names = visible.map((c) => c.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const all = params.some(([k, v]) => k === 'all' && v === 'true');
  if (all) {
    if (p.minimal) return p.list(names);
    const hosts = names.filter((n) => n.startsWith('host-'));
    const vms = names.filter((n) => n.startsWith('vm-'));
    const other = names.filter((n) => !n.startsWith('host-') && !n.startsWith('vm-'));
    p.list([`${usage('xe')}Full command list\n-----------------\n`]);
    p.list(wrapList(hosts));
    p.list(wrapList(['']));
    p.list(wrapList(vms));
    p.list(wrapList(['']));
    p.list(wrapList(other));
    return;
  }
  const std = names.filter((n) => table.get(n)!.flags.includes('Standard'));
  if (p.minimal) return p.list(std);
  p.list([
    `${usage('xe')}To get a full listing of commands:\n  xe help --all\n\nCommon command list\n-------------------\n`,
  ]);
  p.list(wrapList(std));
}
