// The master IP procedures (src/shared/host/master-ip.ts) as the agent serves them: every argument
// checked (params.ts) before any command runs.
import type { MasterIpProcedureName, MasterIpProcedures } from '../../shared/host/master-ip.js';
import { activate, addresses, changeNetmask, deactivate, type MasterIpOptions } from './address.js';
import { address, device, masterParams, noExternalScript, prefix } from './params.js';

/** The contract's procedures, taking unchecked JSON arguments. */
export type ServedMasterIpProcedures = {
  [K in MasterIpProcedureName]: (...args: unknown[]) => ReturnType<MasterIpProcedures[K]>;
};

export function masterIpProcedures(opts: MasterIpOptions = {}): ServedMasterIpProcedures {
  return {
    node_activate_master_ip: async (params: unknown, external: unknown) => {
      const p = masterParams(params);
      noExternalScript(external);
      return activate(p.ip, p.netmask, p.netdev, opts);
    },
    node_deactivate_master_ip: async (params: unknown, external: unknown) => {
      const p = masterParams(params);
      noExternalScript(external);
      return deactivate(p.ip, p.netdev, opts);
    },
    node_change_master_netmask: async (oldMask: unknown, mask: unknown, ip: unknown, dev: unknown) =>
      changeNetmask(
        prefix('old_netmask', oldMask),
        prefix('netmask', mask),
        address('master_ip', ip),
        device('master_netdev', dev),
        opts,
      ),
    node_has_ip_address: async (ip: unknown) => {
      const a = address('address', ip);
      return (await addresses(opts)).some((x) => x.ip === a);
    },
  };
}
