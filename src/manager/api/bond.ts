// Bond.*: Linux bonding over PIFs of one host, made by that host's agent (modes mapped in its
// network/bond.ts). The bond gets a master PIF on the given network; members become bond slaves
// (unplugged).
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { nextFreeName } from '../../shared/net/names.js';
import { hostNetwork, hostStep, needHostNetwork } from '../network/host-network.js';
import { usableMac } from '../network/mac.js';
import { nowXapi } from '../time.js';
import type { HandlerTable } from './context.js';
import { destroyPifRecord } from './pif.js';

export const bondApi: HandlerTable = {
  handlers: {
    'Bond.create': async (ctx, network, members, MAC, mode, properties) => {
      const { db } = ctx.svc;
      const net = db.mustGet('network', network);
      const uniq = [...new Set(members)];
      if (uniq.length < 2) throw new XenApiError('PIF_BOND_NEEDS_MORE_MEMBERS', []);
      const rows = uniq.map((p) => db.mustGet('PIF', p));
      const host = rows[0].host;
      if (rows.some((r) => r.host !== host)) throw new XenApiError('PIF_CANNOT_BOND_CROSS_HOST', []);
      rows.forEach((r, i) => {
        if (r.bond_slave_of !== NULL_REF && db.has('Bond', String(r.bond_slave_of)))
          throw new XenApiError('PIF_ALREADY_BONDED', [uniq[i]]);
        if (Number(r.VLAN) >= 0) throw new XenApiError('PIF_IS_VLAN', [uniq[i]]);
        if (r.management) throw new XenApiError('PIF_IS_MANAGEMENT_INTERFACE', [uniq[i]]);
      });
      const onHost = ((net.PIFs as string[]) ?? []).find((p) => db.get('PIF', p)?.host === host);
      if (onHost) throw new XenApiError('NETWORK_ALREADY_CONNECTED', [network, onHost]);
      const mac = MAC === '' ? String(rows[0].MAC) : usableMac(MAC);
      if (!mac) throw new XenApiError('MAC_INVALID', [MAC]);
      const agent = needHostNetwork(ctx.svc, String(host));
      const used = [...db.all('PIF').values()].map((p) => String(p.device));
      const device = nextFreeName('bond', used);
      const props = properties ?? {};
      await hostStep('bond_create', () =>
        agent.bond_create(
          device,
          rows.map((r) => String(r.device)),
          mode || 'balance-slb',
          props,
          mac,
          String(net.bridge),
          Number(net.MTU) || undefined,
        ),
      );
      return db.transaction(() => {
        const metrics = db.create('PIF_metrics', {
          carrier: true,
          last_updated: nowXapi(),
          other_config: {},
        });
        const master = db.create('PIF', {
          device,
          network,
          host,
          MAC: mac,
          MTU: net.MTU,
          VLAN: -1,
          managed: true,
          physical: false,
          currently_attached: true,
          metrics,
          other_config: {},
        });
        const bond = db.create('Bond', {
          master,
          other_config: {},
          mode: mode || 'balance-slb',
          properties: props,
          primary_slave: uniq[0],
          links_up: uniq.length,
          auto_update_mac: MAC === '',
        });
        for (const p of uniq) db.update('PIF', p, { bond_slave_of: bond, currently_attached: false });
        return bond;
      });
    },
    'Bond.destroy': async (ctx, bond) => {
      const { db } = ctx.svc;
      const b = db.mustGet('Bond', bond);
      const master = db.get('PIF', String(b.master));
      if (master && ((master.VLAN_slave_of as string[]) ?? []).length)
        throw new XenApiError('PIF_VLAN_STILL_EXISTS', [String(b.master)]);
      const slaves = (b.slaves as string[]) ?? [];
      const agent = master && hostNetwork(ctx.svc, String(master.host));
      if (agent && master)
        await hostStep('bond_destroy', () =>
          agent.bond_destroy(
            String(master.device),
            slaves.map((s) => String(db.get('PIF', s)?.device ?? '')).filter(Boolean),
          ),
        );
      db.transaction(() => {
        for (const s of slaves) if (db.has('PIF', s)) db.update('PIF', s, { bond_slave_of: NULL_REF });
        if (master) destroyPifRecord(db, String(b.master));
        db.destroy('Bond', bond);
      });
    },
  },
};
