// The data-plane procedures as the agent serves them over its RPC (src/shared/host/data-plane.ts).
// The RPC is a trust boundary: every argument's type is checked here (INVALID_VALUE [name, value]
// otherwise); the volume's paths are then confined to this agent's roots by the SR driver.
import { XenApiError } from '../../shared/errors.js';
import type { DataPlaneProcedureName, NbdOpenOptions } from '../../shared/host/data-plane.js';
import type { Procedure } from '../server.js';
import { srConfig, str } from '../storage/rpc.js';
import type { NbdExports } from './exports.js';

const bad = (name: string, v: unknown) =>
  new XenApiError('INVALID_VALUE', [name, JSON.stringify(v) ?? 'undefined']);

/** The open options: `readOnly` required, `bitmap` an optional string; nothing else. */
export function nbdOpenOptions(name: string, v: unknown): NbdOpenOptions {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(name, v);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'readOnly' && k !== 'bitmap') throw bad(`${name}.${k}`, o[k]);
  if (typeof o.readOnly !== 'boolean') throw bad(`${name}.readOnly`, o.readOnly);
  if (o.bitmap === undefined || o.bitmap === null) return { readOnly: o.readOnly };
  return { readOnly: o.readOnly, bitmap: str(`${name}.bitmap`, o.bitmap) };
}

export function dataPlaneProcedures(exports: NbdExports): Record<DataPlaneProcedureName, Procedure> {
  return {
    blockdev_nbd_open: (sr: unknown, location: unknown, opts: unknown) =>
      exports.open(srConfig('sr', sr), str('location', location), nbdOpenOptions('opts', opts)),
    blockdev_nbd_close: async (id: unknown) => {
      await exports.close(str('id', id));
      return null;
    },
    blockdev_nbd_list: () => exports.list(),
  };
}
