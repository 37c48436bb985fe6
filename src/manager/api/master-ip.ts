// Berth's extension messages of issue 18, slice master-ip (src/shared/datamodel/extensions/
// master-ip.json): the pool's floating management address's status (Ganeti's master IP; kept by
// src/manager/master-ip/keeper.ts) and SR.set_location, Ganeti's file_storage_dir_rename.
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import { masterIpKeeper } from '../master-ip/keeper.js';
import { srConfig } from '../storage/records.js';
import type { HandlerTable, Services } from './context.js';

const log = logger('master-ip');

/**
 * Moves a file SR's directory (the agent of its PBD's host renames it) and rewrites every PBD's
 * device_config:location in one transaction; if that write fails the directory is moved back.
 */
export async function setSrLocation(svc: Services, sr: string, location: string): Promise<void> {
  const row = svc.db.mustGet('SR', sr);
  if (row.type !== 'file') throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr]);
  const pbds = (row.PBDs as string[]).map((ref) => ({ ref, row: svc.db.mustGet('PBD', ref) }));
  if (!pbds.length) throw new XenApiError('SR_HAS_NO_PBDS', [sr]);
  if (pbds.some((p) => p.row.currently_attached)) throw new XenApiError('SR_HAS_PBD_PLUGGED_IN', [sr]);
  const first = pbds[0];
  const old = (first.row.device_config as Record<string, string>).location;
  if (old === location) return;
  const agent = svc.hosts.get(String(first.row.host)).storageDir;
  await agent.file_storage_dir_rename(srConfig(row, first.row), location);
  try {
    svc.db.transaction(() => {
      for (const p of pbds) {
        const dc = p.row.device_config as Record<string, string>;
        if (dc.location === old) svc.db.update('PBD', p.ref, { device_config: { ...dc, location } });
      }
    });
  } catch (error) {
    log.error('SR location not recorded; moving the directory back', { sr, error: String(error) });
    const moved = {
      ...srConfig(row, first.row),
      deviceConfig: { ...srConfig(row, first.row).deviceConfig, location },
    };
    await agent.file_storage_dir_rename(moved, old);
    throw error;
  }
}

export const masterIpApi: HandlerTable = {
  handlers: {
    'pool.get_master_ip_status': async (ctx, pool) => {
      const row = ctx.svc.db.mustGet('pool', pool);
      const s = masterIpKeeper(ctx.svc).status();
      return {
        wanted: s.wanted,
        device: s.device,
        master: String(row.master),
        active: String(s.active),
        error: s.error,
      };
    },
    'SR.set_location': (ctx, sr, location) => setSrLocation(ctx.svc, sr, location),
  },
};
