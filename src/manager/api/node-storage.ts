// Berth's extension messages over the node-storage procedures (issue 18, slice bdev-misc;
// src/shared/datamodel/extensions/node-storage.json): a host's storage units, block-device sizes,
// hypervisor parameter check and watcher pause, and VDI.wipe. Each reaches the named host's agent
// (HOST_OFFLINE / CANNOT_CONTACT_HOST when it is not connected), VDI.wipe the host serving the SR.
import { XenApiError } from '../../shared/errors.js';
import type { StorageField, StorageUnitType } from '../../shared/host/node-storage.js';
import { assertHasData } from '../storage/cbt.js';
import { attachedSr, attachedVbds } from '../storage/records.js';
import { hostForSr } from '../storage/sr-host.js';
import type { HandlerTable, Services } from './context.js';

/** Every field of each unit type, for an empty `fields` (as the agent's UNIT_FIELDS). */
const ALL_FIELDS: Record<StorageUnitType, StorageField[]> = {
  file: ['name', 'type', 'size', 'used', 'free', 'allocatable'],
  'lvm-vg': ['name', 'type', 'size', 'used', 'free', 'allocatable'],
  'lvm-pv': ['name', 'type', 'size', 'used', 'free', 'allocatable', 'vg'],
};

function unitType(type: string): StorageUnitType {
  if (!Object.hasOwn(ALL_FIELDS, type))
    throw new XenApiError('INVALID_VALUE', ['type', type, Object.keys(ALL_FIELDS).join(', ')]);
  return type as StorageUnitType;
}

const agent = (svc: Services, host: string) => {
  svc.db.mustGet('host', host);
  return svc.hosts.get(host).nodeStorage;
};

/** Rows of storage_list as `name -> field -> text` (pure). */
export function unitMap(fields: StorageField[], rows: (string | number | boolean)[][]) {
  const withName: StorageField[] = fields.includes('name') ? fields : ['name', ...fields];
  const out: Record<string, Record<string, string>> = {};
  for (const row of rows) {
    const rec: Record<string, string> = {};
    withName.forEach((f, i) => {
      if (fields.includes(f)) rec[f] = String(row[i]);
    });
    out[String(row[0])] = rec;
  }
  return out;
}

export const nodeStorageApi: HandlerTable = {
  handlers: {
    'host.get_storage_units': async (ctx, host, type, fields) => {
      const t = unitType(type);
      const wanted = (fields.length ? fields : ALL_FIELDS[t]) as StorageField[];
      const asked: StorageField[] = wanted.includes('name') ? wanted : ['name', ...wanted];
      const rows = await agent(ctx.svc, host).storage_list(t, [], null, asked);
      return unitMap(wanted, rows);
    },
    'host.get_block_device_sizes': (ctx, host, devices) => agent(ctx.svc, host).bdev_sizes(devices),
    'host.validate_hypervisor_params': async (ctx, host, params) =>
      (await agent(ctx.svc, host).hypervisor_validate_params('kvm', params)).ignored,
    'host.set_watcher_pause': async (ctx, host, until) => {
      if (!Number.isSafeInteger(until) || until < 0)
        throw new XenApiError('INVALID_VALUE', ['until', String(until)]);
      await agent(ctx.svc, host).set_watcher_pause(until === 0 ? null : until);
    },
    'host.get_watcher_pause': async (ctx, host) => (await agent(ctx.svc, host).get_watcher_pause()) ?? 0,
    'VDI.wipe': async (ctx, vdi, offset, size) => {
      const { svc } = ctx;
      const row = svc.db.mustGet('VDI', vdi);
      assertHasData(vdi, row);
      if (row.read_only) throw new XenApiError('VDI_READONLY', [vdi]);
      if (attachedVbds(svc.db, vdi).length) throw new XenApiError('VDI_IN_USE', [vdi, 'wipe']);
      const sr = String(row.SR);
      const cfg = attachedSr(svc, sr);
      await svc.hosts
        .get(hostForSr(svc, sr))
        .nodeStorage.blockdev_wipe(cfg, String(row.location), offset, size);
    },
  },
};
