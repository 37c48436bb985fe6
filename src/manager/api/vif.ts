// VIF.*: a VM's NIC on a network. create validates device numbers and MACs (generated when empty:
// locally administered, unique in the pool) and makes a VIF_metrics; plug/unplug on a running VM
// create/remove the TAP and hot-plug it through the host agent's QEMU driver (NicHotplug);
// other_config changes (mtu, ethtool-*, promiscuous) are re-applied to an attached VIF. Host work
// runs on the agent of the VM's resident host.
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { parseMtu } from '../../shared/net/mtu.js';
import { tapName } from '../../shared/net/names.js';
import type { Database, Row } from '../db/database.js';
import {
  attachVifBackend,
  detachVifBackend,
  isLive,
  setAttached,
  settingsProperties,
} from '../network/backend.js';
import { generateMac, usableMac } from '../network/mac.js';
import { hostNetwork, hostStep, needHostNetwork, nicHotplugOf } from '../network/host-network.js';
import { vifNic } from '../network/vm-nics.js';
import { nowXapi } from '../time.js';
import { hostOfVm } from './vm.js';
import type { CallContext, HandlerTable } from './context.js';
import { createRecord } from './implicit.js';

/** VIF devices are small non-negative integers ("0".."6" on xapi's templates; up to 63 here). */
export const MAX_VIF_DEVICE = 63;

export function validVifDevice(d: string): boolean {
  return /^(0|[1-9]\d?)$/.test(d) && Number(d) <= MAX_VIF_DEVICE;
}

function poolMacs(db: Database, except?: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [ref, v] of db.all('VIF')) if (ref !== except) out.set(String(v.MAC).toLowerCase(), ref);
  return out;
}

function vifMtu(other: Record<string, string>, net: Row): number {
  try {
    return parseMtu(other.mtu) ?? (Number(net.MTU) || 1500);
  } catch {
    throw new XenApiError('INVALID_VALUE', ['other_config:mtu', String(other.mtu)]);
  }
}

function liveVm(ctx: CallContext, vif: Row): Row {
  const vm = ctx.svc.db.mustGet('VM', String(vif.VM));
  if (!isLive(vm))
    throw new XenApiError('VM_BAD_POWER_STATE', [
      String(vif.VM),
      'running',
      String(vm.power_state).toLowerCase(),
    ]);
  return vm;
}

async function plug(ctx: CallContext, vif: string) {
  const { db } = ctx.svc;
  const row = db.mustGet('VIF', vif);
  const vm = liveVm(ctx, row);
  if (row.currently_attached) throw new XenApiError('DEVICE_ALREADY_ATTACHED', [vif]);
  const host = hostOfVm(ctx.svc, vm);
  needHostNetwork(ctx.svc, host);
  const hot = nicHotplugOf(ctx.svc.hosts.peek(host));
  if (!hot)
    throw new XenApiError('OPERATION_NOT_ALLOWED', ["NIC hot-plug needs the host agent's QEMU driver"]);
  await attachVifBackend(ctx.svc, host, vif);
  try {
    const nic = vifNic(db, vif);
    if (!nic) throw new XenApiError('BRIDGE_NOT_AVAILABLE', ['']);
    await hot.nicAttach(String(vm.uuid), nic);
  } catch (e) {
    await detachVifBackend(ctx.svc, host, String(row.uuid)).catch(() => undefined);
    throw e;
  }
  setAttached(db, vif, true, true);
}

async function unplug(ctx: CallContext, vif: string) {
  const { db } = ctx.svc;
  const row = db.mustGet('VIF', vif);
  if (!row.currently_attached) throw new XenApiError('DEVICE_ALREADY_DETACHED', [vif]);
  const vm = db.mustGet('VM', String(row.VM));
  const host = hostOfVm(ctx.svc, vm);
  if (isLive(vm)) {
    const hot = nicHotplugOf(ctx.svc.hosts.peek(host));
    if (!hot)
      throw new XenApiError('OPERATION_NOT_ALLOWED', ["NIC hot-unplug needs the host agent's QEMU driver"]);
    try {
      await hot.nicDetach(String(vm.uuid), String(row.device));
    } catch (e) {
      // The agent names the device; the API names the VIF.
      if (e instanceof XenApiError && e.code === 'DEVICE_DETACH_REJECTED')
        throw new XenApiError('DEVICE_DETACH_REJECTED', ['VIF', vif, e.params[2] ?? '']);
      throw e;
    }
  }
  // A VM that is not running has no TAP left to remove (the power-state follower took it).
  const detach = detachVifBackend(ctx.svc, host, String(row.uuid));
  await (isLive(vm) ? detach : detach.catch(() => undefined));
  setAttached(db, vif, false, isLive(vm));
}

/** Re-applies other_config to an attached VIF; the failures land in runtime_properties. */
async function reconfigure(ctx: CallContext, vif: string) {
  const { db } = ctx.svc;
  const row = db.mustGet('VIF', vif);
  const other = (row.other_config as Record<string, string>) ?? {};
  const net = db.mustGet('network', String(row.network));
  const mtu = vifMtu(other, net);
  db.update('VIF', vif, { MTU: mtu });
  if (!row.currently_attached) return;
  const agent = hostNetwork(ctx.svc, hostOfVm(ctx.svc, db.mustGet('VM', String(row.VM))));
  if (!agent) return;
  const report = await hostStep('vif_configure', () =>
    agent.vif_configure(tapName(String(row.uuid)), { mtu: String(mtu), ...other }),
  );
  db.update('VIF', vif, { runtime_properties: settingsProperties(report) });
}

function checkOtherConfig(other: Record<string, string>, net: Row) {
  vifMtu(other, net);
}

export const vifApi: HandlerTable = {
  handlers: {
    'VIF.create': (ctx, rec) => {
      const { db } = ctx.svc;
      const f = createRecord(db, db.classSpec('VIF'), rec);
      const vmRef = String(f.VM);
      const vm = db.mustGet('VM', vmRef);
      const net = db.mustGet('network', String(f.network));
      const device = String(f.device);
      if (!validVifDevice(device)) throw new XenApiError('INVALID_DEVICE', [device]);
      for (const v of (vm.VIFs as string[]) ?? [])
        if (String(db.get('VIF', v)?.device) === device)
          throw new XenApiError('DEVICE_ALREADY_EXISTS', [device]);
      const taken = poolMacs(db);
      let mac = String(f.MAC ?? '');
      const generated = mac === '';
      if (generated) {
        const seed = String((vm.other_config as Record<string, string>)?.mac_seed ?? vm.uuid);
        mac = generateMac(seed, device, new Set(taken.keys()));
      } else {
        const ok = usableMac(mac);
        if (!ok) throw new XenApiError('MAC_INVALID', [mac]);
        const other = taken.get(ok);
        if (other)
          throw new XenApiError('INVALID_VALUE', [
            'MAC',
            `${mac} is already used by VIF ${db.get('VIF', other)?.uuid}`,
          ]);
        mac = ok;
      }
      const other = (f.other_config as Record<string, string>) ?? {};
      checkOtherConfig(other, net);
      return db.transaction(() => {
        const metrics = db.create('VIF_metrics', {
          io_read_kbs: 0,
          io_write_kbs: 0,
          last_updated: nowXapi(),
        });
        return db.create('VIF', {
          ...f,
          device,
          MAC: mac,
          MAC_autogenerated: generated,
          MTU: vifMtu(other, net),
          currently_attached: false,
          metrics,
          allowed_operations: isLive(vm) ? ['plug'] : ['attach'],
        });
      });
    },
    'VIF.destroy': async (ctx, vif) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VIF', vif);
      if (row.currently_attached && isLive(db.get('VM', String(row.VM))))
        throw new XenApiError('OPERATION_NOT_ALLOWED', ['VIF is currently attached to a running VM']);
      const vm = db.get('VM', String(row.VM));
      const host = vm ? hostOfVm(ctx.svc, vm) : ctx.svc.hostRef();
      await detachVifBackend(ctx.svc, host, String(row.uuid)).catch(() => undefined);
      db.transaction(() => {
        if (row.metrics !== NULL_REF && db.has('VIF_metrics', String(row.metrics)))
          db.destroy('VIF_metrics', String(row.metrics));
        db.destroy('VIF', vif);
      });
    },
    'VIF.plug': (ctx, vif) => plug(ctx, vif),
    'VIF.unplug': (ctx, vif) => unplug(ctx, vif),
    'VIF.unplug_force': (ctx, vif) => unplug(ctx, vif),
    'VIF.move': async (ctx, vif, network) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VIF', vif);
      const net = db.mustGet('network', network);
      checkOtherConfig((row.other_config as Record<string, string>) ?? {}, net);
      db.update('VIF', vif, { network });
      if (ctx.svc.networking && row.currently_attached) {
        const host = hostOfVm(ctx.svc, db.mustGet('VM', String(row.VM)));
        try {
          // vif_attach re-masters the existing TAP onto the new bridge.
          await attachVifBackend(ctx.svc, host, vif);
        } catch (e) {
          db.update('VIF', vif, { network: row.network });
          await attachVifBackend(ctx.svc, host, vif).catch(() => undefined);
          throw e;
        }
      }
    },
    'VIF.set_other_config': async (ctx, vif, value) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VIF', vif);
      checkOtherConfig(value, db.mustGet('network', String(row.network)));
      db.update('VIF', vif, { other_config: value });
      await reconfigure(ctx, vif);
    },
    'VIF.add_to_other_config': async (ctx, vif, key, value) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VIF', vif);
      const map = { ...((row.other_config as Record<string, string>) ?? {}) };
      if (Object.hasOwn(map, key))
        throw new XenApiError('MAP_DUPLICATE_KEY', ['VIF', 'other_config', vif, key]);
      map[key] = value;
      checkOtherConfig(map, db.mustGet('network', String(row.network)));
      db.update('VIF', vif, { other_config: map });
      await reconfigure(ctx, vif);
    },
    'VIF.remove_from_other_config': async (ctx, vif, key) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VIF', vif);
      const map = { ...((row.other_config as Record<string, string>) ?? {}) };
      if (!Object.hasOwn(map, key)) return;
      delete map[key];
      db.update('VIF', vif, { other_config: map });
      await reconfigure(ctx, vif);
    },
  },
};
