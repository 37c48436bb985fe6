// Attaches the ExtStorage volumes of a VM about to start and detaches them once its QEMU ended
// (Ganeti's blockdev_assemble / blockdev_shutdown of an ext disk). A disk path under
// /dev/berth-ext/<sr>/<volume> names the volume; the SR's provider and parameters come from the
// SRs attached on this host (sr_attach recorded them). Other disk paths are left alone.
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { DiskAssembler } from '../instances.js';
import type { AttachedSrs } from './attached.js';
import { attachVolume, detachVolume, parseExtPath } from './ext-sr.js';
import type { DriverContext, SrConfig } from './types.js';

const log = logger('extstorage');

export function extDiskAssembler(attached: AttachedSrs, ctx: DriverContext): DiskAssembler {
  const srOf = (uuid: string): SrConfig | undefined =>
    attached.list().find((s) => s.config.uuid === uuid && s.config.type === 'ext')?.config;
  const volumes = (paths: readonly string[]) =>
    paths.map((p) => ({ path: p, v: parseExtPath(p) })).filter((x) => x.v !== undefined) as {
      path: string;
      v: { sr: string; location: string };
    }[];

  const release = async (paths: readonly string[]) => {
    for (const { v } of volumes(paths)) {
      const sr = srOf(v.sr);
      if (!sr) continue;
      await detachVolume(sr, v.location, ctx).catch((e) =>
        log.warn('ExtStorage detach failed', {
          sr: v.sr,
          volume: v.location,
          error: String(e?.message ?? e),
        }),
      );
    }
  };

  return {
    async assemble(paths) {
      const done: string[] = [];
      try {
        for (const { path, v } of volumes(paths)) {
          const sr = srOf(v.sr);
          if (!sr) throw new XenApiError('SR_NOT_ATTACHED', [v.sr]);
          await attachVolume(sr, v.location, ctx);
          done.push(path);
        }
      } catch (e) {
        await release(done); // all or nothing: the ones attached so far go again
        throw e;
      }
    },
    release,
  };
}
