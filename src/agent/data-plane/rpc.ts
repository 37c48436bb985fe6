// The data-plane procedures as the agent serves them over its RPC (src/shared/host/data-plane.ts).
// The RPC is a trust boundary: every argument's type is checked here (INVALID_VALUE [name, value]
// otherwise); the volume's paths are then confined to this agent's roots by the SR driver.
import { XenApiError } from '../../shared/errors.js';
import type { DataPlaneProcedureName, NbdOpenOptions } from '../../shared/host/data-plane.js';
import type { Procedure } from '../server.js';
import { srConfig, str } from '../storage/rpc.js';
import type { NbdExports } from './exports.js';
import type { InstanceExports } from './instance-exports.js';

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

/** instance_nbd_open's options: an optional `bitmap` string; nothing else. */
export function instanceNbdOptions(name: string, v: unknown): { bitmap?: string } {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(name, v);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'bitmap') throw bad(`${name}.${k}`, o[k]);
  return o.bitmap === undefined || o.bitmap === null ? {} : { bitmap: str(`${name}.bitmap`, o.bitmap) };
}

export function dataPlaneProcedures(
  exports: NbdExports,
  running: InstanceExports,
): Record<DataPlaneProcedureName, Procedure> {
  return {
    blockdev_nbd_open: (sr: unknown, location: unknown, opts: unknown) =>
      exports.open(srConfig('sr', sr), str('location', location), nbdOpenOptions('opts', opts)),
    instance_nbd_open: (uuid: unknown, device: unknown, opts: unknown) =>
      running.open(str('uuid', uuid), str('device', device), instanceNbdOptions('opts', opts)),
    blockdev_nbd_close: async (id: unknown) => {
      const which = str('id', id);
      if (!(await running.close(which))) await exports.close(which);
      return null;
    },
    blockdev_nbd_list: () => [...exports.list(), ...running.list()],
  };
}
