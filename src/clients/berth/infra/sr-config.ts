// `berth sr create/discover -P PATH`: the one path oVirtCmd takes, put where the SR type keeps it
// in device_config (docs/storage.md): file/iso `location`, lvm `device`, nfs `server:/path` →
// `server` + `serverpath`. `-c key value` pairs give any other key, and win over -P.
import { usageError } from '../errors.js';

export function deviceConfig(
  type: string,
  path: string | undefined,
  pairs: Record<string, unknown> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  if (path !== undefined) {
    if (type === 'nfs') {
      const m = /^([^:/]+):(\/.*)$/.exec(path);
      if (!m) throw usageError(`an nfs path is server:/exported/path, not '${path}'`);
      out.server = m[1];
      out.serverpath = m[2];
    } else if (type === 'lvm') out.device = path;
    else if (type === 'file' || type === 'iso') out.location = path;
    else
      throw usageError(`-P has no meaning for SR type '${type}': give its device-config with -c key value`);
  }
  for (const [k, v] of Object.entries(pairs)) out[k] = String(v);
  return out;
}
