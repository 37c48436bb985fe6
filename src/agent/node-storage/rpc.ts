// The node-storage procedures (src/shared/host/node-storage.ts) as the agent serves them: every
// argument's type checked here (INVALID_VALUE [name, value]) before any work; volumes reached
// only through their SR's driver (bdev.ts), LVM names checked (lvm-report.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { XenApiError } from '../../shared/errors.js';
import { type NodeStorageProcedureName, TEST_DELAY_MAX_S } from '../../shared/host/node-storage.js';
import type { NbdExports } from '../data-plane/exports.js';
import type { Procedure } from '../server.js';
import { size, srConfig, str, stringMap, strings } from '../storage/rpc.js';
import type { DriverContext } from '../storage/types.js';
import {
  bdevSizes,
  blockdevClose,
  blockdevGetinfo,
  blockdevRename,
  blockdevSetinfo,
  blockdevWipe,
} from './bdev.js';
import { validateHvParams } from './hv-params.js';
import { lvmName, lvsNodeVolumes, lvsVolumes, vgsList } from './lvm-report.js';
import { checkFields, storageExecute, storageList, storageModify, unitType } from './storage-units.js';
import { checkUntil, getWatcherPause, setWatcherPause } from './watcher.js';

export interface NodeStorageContext {
  storage: DriverContext;
  exports: NbdExports;
  /** The agent's first state root (watcher.pause lives there). */
  stateRoot: string;
}

const bad = (name: string, v: unknown) =>
  new XenApiError('INVALID_VALUE', [name, JSON.stringify(v) ?? 'undefined']);

/** `[[old, new], …]` of strings. */
function pairs(name: string, v: unknown): [string, string][] {
  if (!Array.isArray(v)) throw bad(name, v);
  return v.map((p, i) => {
    if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string')
      throw bad(`${name}[${i}]`, p);
    return [p[0], p[1]];
  });
}

function plainObject(name: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(name, v);
  return { ...(v as Record<string, unknown>) };
}

const lvmFailure = (e: unknown) =>
  new XenApiError('SR_BACKEND_FAILURE', ['LVM', '', e instanceof Error ? e.message : String(e)]);

export function nodeStorageProcedures(c: NodeStorageContext): Record<NodeStorageProcedureName, Procedure> {
  const ctx = c.storage;
  return {
    bdev_sizes: (devices: unknown) => bdevSizes(strings('devices', devices)),
    blockdev_wipe: (sr: unknown, location: unknown, offset: unknown, bytes: unknown) =>
      blockdevWipe(
        ctx,
        srConfig('sr', sr),
        str('location', location),
        size('offset', offset),
        size('size', bytes),
      ),
    blockdev_setinfo: (sr: unknown, location: unknown, info: unknown) =>
      blockdevSetinfo(ctx, srConfig('sr', sr), str('location', location), str('info', info)),
    blockdev_getinfo: (sr: unknown, location: unknown) =>
      blockdevGetinfo(ctx, srConfig('sr', sr), str('location', location)),
    blockdev_rename: (sr: unknown, devlist: unknown) =>
      blockdevRename(ctx, srConfig('sr', sr), pairs('devlist', devlist)),
    blockdev_close: (sr: unknown, locations: unknown) => {
      srConfig('sr', sr);
      return blockdevClose(c.exports, strings('locations', locations));
    },
    lv_list: (vgs: unknown) => {
      const names =
        vgs === null || vgs === undefined ? [] : strings('vgs', vgs).map((v) => lvmName('vgs', v));
      return lvsVolumes(names).catch((e) => {
        throw lvmFailure(e);
      });
    },
    vg_list: () =>
      vgsList().catch((e) => {
        throw lvmFailure(e);
      }),
    node_volumes: () =>
      lvsNodeVolumes().catch((e) => {
        throw lvmFailure(e);
      }),
    storage_list: (type: unknown, args: unknown, name: unknown, fields: unknown) => {
      const t = unitType(type);
      return storageList(
        ctx,
        t,
        args === null || args === undefined ? [] : strings('args', args),
        name === null || name === undefined ? null : str('name', name),
        checkFields(t, fields),
      );
    },
    storage_modify: (type: unknown, _args: unknown, name: unknown, changes: unknown) =>
      storageModify(unitType(type), str('name', name), plainObject('changes', changes)),
    storage_execute: (type: unknown, _args: unknown, name: unknown, op: unknown) =>
      storageExecute(unitType(type), str('name', name), str('op', op)),
    test_delay: async (duration: unknown) => {
      if (
        typeof duration !== 'number' ||
        !Number.isFinite(duration) ||
        duration < 0 ||
        duration > TEST_DELAY_MAX_S
      )
        throw bad('duration', duration);
      if (duration > 0) await sleep(duration * 1000);
      return true;
    },
    set_watcher_pause: async (until: unknown) => {
      setWatcherPause(c.stateRoot, checkUntil(until));
      return null;
    },
    get_watcher_pause: () => getWatcherPause(c.stateRoot),
    hypervisor_validate_params: (hvname: unknown, params: unknown) =>
      validateHvParams(str('hvname', hvname), stringMap('params', params)),
  };
}
