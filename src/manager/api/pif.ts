// PIF.*: the host's NICs. scan/introduce only record what the host has (nothing on the host
// changes); plug puts a NIC on its network's bridge and reconfigure_ip sets its address — both
// explicit administrator actions. The management PIF (the NIC holding the host's address) is
// never moved or reconfigured by Berth: PIF_IS_MANAGEMENT_INTERFACE. All host work runs on the
// agent of the PIF's host.
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { isIPv4, netmaskToPrefix } from '../../shared/net/ipv4.js';
import { nextFreeName } from '../../shared/net/names.js';
import type { Database, Row } from '../db/database.js';
import { hostNetwork, hostStep, needHostNetwork, type NicInfo } from '../network/host-network.js';
import { usableMac } from '../network/mac.js';
import { nowXapi } from '../time.js';
import { createMessage } from './message.js';
import type { CallContext, HandlerTable } from './context.js';

/** The networking of the PIF's host's agent (OPERATION_NOT_ALLOWED when networking is off). */
const needAgent = (ctx: CallContext, pif: Row) => needHostNetwork(ctx.svc, String(pif.host));

/** The kernel device a PIF stands for (a VLAN PIF's is `<device>.<tag>` on the agent side). */
export const pifDevice = (pif: Row) => String(pif.device);

function bridgeOf(db: Database, pif: Row): string {
  return String(db.get('network', String(pif.network))?.bridge ?? '');
}

/** The network for a newly found NIC: xenbr<N> (N from ethN when it can), created in the DB only. */
function networkFor(db: Database, device: string): string {
  const used = new Set([...db.all('network').values()].map((n) => String(n.bridge)));
  const n = /^eth(\d+)$/.exec(device)?.[1];
  const bridge = n !== undefined && !used.has(`xenbr${n}`) ? `xenbr${n}` : nextFreeName('xenbr', used);
  return db.create('network', {
    name_label: `Pool-wide network associated with ${device}`,
    name_description: '',
    MTU: 1500,
    bridge,
    managed: true,
    other_config: {},
  });
}

function introduceNic(ctx: CallContext, host: string, nic: NicInfo, managed: boolean): string {
  const { db } = ctx.svc;
  const hostRow = db.mustGet('host', host);
  const mgmt = nic.addresses.some((a) => a.split('/')[0] === hostRow.address);
  const [ip, prefix] = (nic.addresses[0] ?? '').split('/');
  const mask =
    prefix === undefined
      ? ''
      : [0, 8, 16, 24].map((s) => ((0xffffffff << (32 - Number(prefix))) >>> (24 - s)) & 255).join('.');
  return db.transaction(() => {
    const metrics = db.create('PIF_metrics', {
      carrier: nic.carrier,
      vendor_id: '',
      vendor_name: '',
      device_id: '',
      device_name: '',
      speed: 0,
      duplex: false,
      pci_bus_path: nic.bus,
      last_updated: nowXapi(),
      other_config: {},
    });
    return db.create('PIF', {
      device: nic.device,
      network: networkFor(db, nic.device),
      host,
      MAC: nic.MAC,
      MTU: nic.MTU,
      VLAN: -1,
      managed,
      metrics,
      physical: true,
      // The host's own interfaces are used as they are; Berth only records them.
      currently_attached: mgmt,
      management: mgmt,
      ip_configuration_mode: mgmt && ip ? 'Static' : 'None',
      IP: mgmt ? (ip ?? '') : '',
      netmask: mgmt ? mask : '',
      other_config: {},
    });
  });
}

function hostPifs(db: Database, host: string): [string, Row][] {
  return [...db.all('PIF')].filter(([, p]) => p.host === host);
}

function checkNotManagement(pif: string, row: Row) {
  if (row.management) throw new XenApiError('PIF_IS_MANAGEMENT_INTERFACE', [pif]);
}

async function plugPif(ctx: CallContext, pif: string) {
  const { db } = ctx.svc;
  const row = db.mustGet('PIF', pif);
  if (row.currently_attached) return;
  checkNotManagement(pif, row);
  if (row.bond_slave_of !== NULL_REF && db.has('Bond', String(row.bond_slave_of)))
    throw new XenApiError('CANNOT_PLUG_BOND_SLAVE', [pif]);
  const agent = needAgent(ctx, row);
  const net = db.mustGet('network', String(row.network));
  await hostStep('pif_plug', () =>
    agent.pif_plug(pifDevice(row), String(net.bridge), Number(net.MTU) || undefined),
  );
  db.update('PIF', pif, { currently_attached: true });
  await applyPifSettings(ctx, pif);
}

/** ethtool/promiscuous/mtu from other_config on a plugged PIF; failures become a message. */
async function applyPifSettings(ctx: CallContext, pif: string) {
  const { db } = ctx.svc;
  const row = db.mustGet('PIF', pif);
  const other = (row.other_config as Record<string, string>) ?? {};
  if (!ctx.svc.networking || !row.currently_attached || row.management || Object.keys(other).length === 0)
    return;
  const agent = needAgent(ctx, row);
  // vif_configure applies the same keys to any device.
  const report = await hostStep('vif_configure', () => agent.vif_configure(pifDevice(row), other));
  const failed = Object.entries(report.failed);
  // xapi's message classes have no PIF: the alert goes to the PIF's host, naming the PIF.
  const host = db.get('host', String(row.host));
  if (failed.length && host)
    createMessage(
      ctx,
      'PIF_SETTINGS_NOT_APPLIED',
      4,
      'Host',
      String(host.uuid),
      [`PIF ${row.uuid} (${row.device}):`, ...failed.map(([k, why]) => `${k}: ${why}`)].join('\n'),
    );
}

function validateIp(mode: string, IP: string, netmask: string, gateway: string) {
  if (mode !== 'Static') return;
  if (!isIPv4(IP)) throw new XenApiError('INVALID_IP_ADDRESS_SPECIFIED', ['IP']);
  if (netmaskToPrefix(netmask) === undefined)
    throw new XenApiError('INVALID_IP_ADDRESS_SPECIFIED', ['netmask']);
  if (gateway !== '' && !isIPv4(gateway)) throw new XenApiError('INVALID_IP_ADDRESS_SPECIFIED', ['gateway']);
}

export function destroyPifRecord(db: Database, pif: string) {
  const row = db.mustGet('PIF', pif);
  db.transaction(() => {
    if (row.metrics !== NULL_REF && db.has('PIF_metrics', String(row.metrics)))
      db.destroy('PIF_metrics', String(row.metrics));
    db.destroy('PIF', pif);
  });
}

export const pifApi: HandlerTable = {
  handlers: {
    'PIF.scan': async (ctx, host) => {
      const { db } = ctx.svc;
      db.mustGet('host', host);
      const agent = needHostNetwork(ctx.svc, host);
      const nics = await hostStep('pif_scan', () => agent.pif_scan());
      const known = new Set(hostPifs(db, host).map(([, p]) => String(p.MAC).toLowerCase()));
      for (const nic of nics) if (!known.has(nic.MAC)) introduceNic(ctx, host, nic, true);
    },
    'PIF.introduce': async (ctx, host, mac, device, managed) => {
      const { db } = ctx.svc;
      db.mustGet('host', host);
      const m = usableMac(mac);
      if (!m) throw new XenApiError('MAC_INVALID', [mac]);
      if (hostPifs(db, host).some(([, p]) => p.device === device))
        throw new XenApiError('DUPLICATE_PIF_DEVICE_NAME', [device]);
      const agent = needHostNetwork(ctx.svc, host);
      const nics = await hostStep('pif_scan', () => agent.pif_scan());
      const nic = nics.find((n) => n.MAC === m);
      if (!nic) throw new XenApiError('MAC_DOES_NOT_EXIST', [mac]);
      if (nic.device !== device) throw new XenApiError('MAC_DOES_NOT_EXIST', [mac]);
      return introduceNic(ctx, host, nic, managed !== false);
    },
    'PIF.forget': async (ctx, pif) => {
      const { db } = ctx.svc;
      const row = db.mustGet('PIF', pif);
      checkNotManagement(pif, row);
      if (((row.VLAN_slave_of as string[]) ?? []).length)
        throw new XenApiError('PIF_VLAN_STILL_EXISTS', [pif]);
      if (((row.bond_master_of as string[]) ?? []).length || row.bond_slave_of !== NULL_REF)
        throw new XenApiError('PIF_ALREADY_BONDED', [pif]);
      if (row.currently_attached && row.physical) {
        const agent = hostNetwork(ctx.svc, String(row.host));
        if (agent) await hostStep('pif_unplug', () => agent.pif_unplug(pifDevice(row)));
      }
      destroyPifRecord(db, pif);
    },
    'PIF.destroy': (ctx, pif) => {
      const { db } = ctx.svc;
      const row = db.mustGet('PIF', pif);
      if (row.physical) throw new XenApiError('PIF_IS_PHYSICAL', [pif]);
      if (Number(row.VLAN) >= 0 || ((row.bond_master_of as string[]) ?? []).length)
        throw new XenApiError('OPERATION_NOT_ALLOWED', [
          'destroy VLAN and bond PIFs with VLAN.destroy / Bond.destroy',
        ]);
      destroyPifRecord(db, pif);
    },
    'PIF.plug': (ctx, pif) => plugPif(ctx, pif),
    'PIF.unplug': async (ctx, pif) => {
      const { db } = ctx.svc;
      const row = db.mustGet('PIF', pif);
      checkNotManagement(pif, row);
      if (row.disallow_unplug) throw new XenApiError('PIF_DOES_NOT_ALLOW_UNPLUG', [pif]);
      if (!row.currently_attached) return;
      if (row.physical) {
        const agent = needAgent(ctx, row);
        await hostStep('pif_unplug', () => agent.pif_unplug(pifDevice(row)));
      }
      db.update('PIF', pif, { currently_attached: false });
    },
    'PIF.reconfigure_ip': async (ctx, pif, mode, IP, netmask, gateway, DNS) => {
      const { db } = ctx.svc;
      const row = db.mustGet('PIF', pif);
      checkNotManagement(pif, row);
      validateIp(mode, IP, netmask, gateway);
      await plugPif(ctx, pif);
      const bridge = bridgeOf(db, db.mustGet('PIF', pif));
      const agent = needAgent(ctx, row);
      const r = await hostStep('pif_reconfigure_ip', () =>
        agent.pif_reconfigure_ip(bridge, {
          mode: mode as 'None' | 'DHCP' | 'Static',
          IP,
          netmask,
          gateway,
        }),
      );
      db.update('PIF', pif, {
        ip_configuration_mode: mode,
        IP: r.IP,
        netmask: r.netmask,
        gateway: r.gateway,
        DNS: mode === 'DHCP' ? r.DNS : DNS,
      });
    },
    'PIF.set_other_config': async (ctx, pif, value) => {
      ctx.svc.db.mustGet('PIF', pif);
      ctx.svc.db.update('PIF', pif, { other_config: value });
      await applyPifSettings(ctx, pif);
    },
    'PIF.add_to_other_config': async (ctx, pif, key, value) => {
      const row = ctx.svc.db.mustGet('PIF', pif);
      const map = { ...((row.other_config as Record<string, string>) ?? {}) };
      if (Object.hasOwn(map, key))
        throw new XenApiError('MAP_DUPLICATE_KEY', ['PIF', 'other_config', pif, key]);
      ctx.svc.db.update('PIF', pif, { other_config: { ...map, [key]: value } });
      await applyPifSettings(ctx, pif);
    },
    'PIF.create_VLAN': async (ctx, device, network, host, tag) => {
      const { db } = ctx.svc;
      const tagged = hostPifs(db, host).find(([, p]) => p.device === device && Number(p.VLAN) < 0);
      if (!tagged) throw new XenApiError('INVALID_VALUE', ['device', device]);
      const vlan = (await ctx.svc.call(ctx.session, 'VLAN.create', [tagged[0], tag, network])) as string;
      return String(db.mustGet('VLAN', vlan).untagged_PIF);
    },
  },
};
