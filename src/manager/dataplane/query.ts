// The query parameters of /export_metadata, /import and /import_metadata, read as xapi reads them
// (export.ml's *_from_request, import.ml's find_query_flag / read_map_params). Pure.
import { XenApiError } from '../../shared/errors.js';
import { type DeviceType, parseDeviceTypes } from './export-objects.js';

export type Query = Readonly<Record<string, string | undefined>>;

/** OCaml's bool_of_string: exactly "true" or "false"; anything else is refused. */
function strictBool(q: Query, key: string, dflt: boolean): boolean {
  const v = q[key];
  if (v === undefined) return dflt;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new XenApiError('INVALID_VALUE', [key, v]);
}

export interface MetadataExportQuery {
  /** `all=true`: every VM but default templates (allMetadataVms). */
  all: boolean;
  includeDom0: boolean;
  /** export_snapshots (default true): snapshot metadata and the snapshots themselves. */
  withSnapshotMetadata: boolean;
  includeVhdParents: boolean;
  excludedDevices: DeviceType[];
}

/** /export_metadata's options (the VM itself is `ref=` or `uuid=`, resolved by the handler). */
export function metadataExportQuery(q: Query): MetadataExportQuery {
  return {
    all: strictBool(q, 'all', false),
    includeDom0: strictBool(q, 'include_dom0', true),
    withSnapshotMetadata: strictBool(q, 'export_snapshots', true),
    includeVhdParents: strictBool(q, 'include_vhd_parents', false),
    excludedDevices: parseDeviceTypes(q.excluded_device_types),
  };
}

export interface ImportQuery {
  restore: boolean;
  force: boolean;
  dryRun: boolean;
  live: boolean;
  checkCpu: boolean;
  /** `vdi:<src>=<dst>` pairs. */
  vdiMap: Record<string, string>;
}

/**
 * /import and /import_metadata flags: a flag is on only when its value is exactly "true"
 * (find_query_flag); every key `vdi<c><name>` (xapi strips the prefix and one separator, so
 * `vdi:<uuid>`) adds a remapping.
 */
export function importQuery(q: Query): ImportQuery {
  const flag = (k: string) => q[k] === 'true';
  const vdiMap: Record<string, string> = {};
  for (const [k, v] of Object.entries(q))
    if (k.startsWith('vdi') && k.length > 4 && v !== undefined) vdiMap[k.slice(4)] = v;
  return {
    restore: flag('restore'),
    force: flag('force'),
    dryRun: flag('dry_run'),
    live: flag('live'),
    checkCpu: flag('check_cpu'),
    vdiMap,
  };
}
