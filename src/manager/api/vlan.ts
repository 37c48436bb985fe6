// VLAN.*: an 802.1Q VLAN of a tagged PIF: a VLAN device on the PIF's device and a new untagged
// PIF on the VLAN network's bridge. Host failures leave no records (and the agent leaves no
// kernel objects).
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { validVlanTag } from '../../shared/net/vlan-tag.js';
import { hostNetwork, hostStep, needHostNetwork } from '../network/host-network.js';
import { nowXapi } from '../time.js';
import type { HandlerTable } from './context.js';
import { destroyPifRecord } from './pif.js';

export const vlanApi: HandlerTable = {
  handlers: {
    'VLAN.create': async (ctx, tagged, tag, network) => {
      const { db } = ctx.svc;
      const pif = db.mustGet('PIF', tagged);
      const net = db.mustGet('network', network);
      if (!validVlanTag(tag)) throw new XenApiError('VLAN_TAG_INVALID', [String(tag)]);
      if (Number(pif.VLAN) >= 0) throw new XenApiError('PIF_IS_VLAN', [tagged]);
      if (pif.bond_slave_of !== NULL_REF && db.has('Bond', String(pif.bond_slave_of)))
        throw new XenApiError('CANNOT_ADD_VLAN_TO_BOND_SLAVE', [tagged]);
      for (const v of (pif.VLAN_slave_of as string[]) ?? [])
        if (Number(db.get('VLAN', v)?.tag) === tag)
          throw new XenApiError('PIF_VLAN_EXISTS', [String(pif.device)]);
      const onHost = ((net.PIFs as string[]) ?? []).find((p) => db.get('PIF', p)?.host === pif.host);
      if (onHost) throw new XenApiError('NETWORK_ALREADY_CONNECTED', [network, onHost]);
      const agent = needHostNetwork(ctx.svc, String(pif.host));
      await hostStep('vlan_create', () =>
        agent.vlan_create(String(pif.device), tag, String(net.bridge), Number(net.MTU) || undefined),
      );
      return db.transaction(() => {
        const metrics = db.create('PIF_metrics', {
          carrier: true,
          last_updated: nowXapi(),
          other_config: {},
        });
        const untagged = db.create('PIF', {
          device: pif.device,
          network,
          host: pif.host,
          MAC: pif.MAC,
          MTU: net.MTU,
          VLAN: tag,
          managed: true,
          physical: false,
          currently_attached: true,
          metrics,
          other_config: {},
        });
        const vlan = db.create('VLAN', { tagged_PIF: tagged, untagged_PIF: untagged, tag, other_config: {} });
        db.update('PIF', untagged, { VLAN_master_of: vlan });
        return vlan;
      });
    },
    'VLAN.destroy': async (ctx, vlan) => {
      const { db } = ctx.svc;
      const v = db.mustGet('VLAN', vlan);
      const untagged = db.get('PIF', String(v.untagged_PIF));
      const tagged = db.get('PIF', String(v.tagged_PIF));
      if (untagged?.management)
        throw new XenApiError('PIF_IS_MANAGEMENT_INTERFACE', [String(v.untagged_PIF)]);
      const net = untagged && db.get('network', String(untagged.network));
      const inUse = ((net?.VIFs as string[]) ?? []).find((x) => db.get('VIF', x)?.currently_attached);
      if (inUse) throw new XenApiError('VIF_IN_USE', [String(untagged?.network), inUse]);
      const agent = tagged && hostNetwork(ctx.svc, String(tagged.host));
      if (agent && tagged && net)
        await hostStep('vlan_destroy', () =>
          agent.vlan_destroy(String(tagged.device), Number(v.tag), String(net.bridge)),
        );
      db.transaction(() => {
        if (untagged) destroyPifRecord(db, String(v.untagged_PIF));
        db.destroy('VLAN', vlan);
      });
    },
  },
};
