// The environment of site hooks (docs/hooks.md), after Ganeti's (ganeti-noded.md §9) with BERTH_
// names: the operation's common variables, then the object's. Built from records only: never
// passwords, device_config (it may hold storage credentials) or session ids.
import type { Row } from '../db/database.js';

/** The version of this environment's layout (Ganeti's GANETI_HOOKS_VERSION). */
export const BERTH_HOOKS_VERSION = '1';

/** What building an environment reads: the database or any stand-in holding the same records. */
export interface EnvRecords {
  get(cls: string, ref: string): Row | undefined;
}

export type HookEnv = Record<string, string>;

const isNull = (ref: unknown) => ref === undefined || ref === null || ref === '' || ref === 'OpaqueRef:NULL';
/** A value as a hook sees it: a string, NULs dropped, at most 4000 characters (the agent takes 4096). */
export const envValue = (v: unknown): string =>
  String(v ?? '')
    .replaceAll('\0', '')
    .slice(0, 4000);

/** The host's name and uuid under `prefix` (BERTH_HOST_NAME, BERTH_TARGET_HOST_UUID…). */
export function hostEnv(r: EnvRecords, prefix: string, host: string | undefined): HookEnv {
  const h = host && !isNull(host) ? r.get('host', host) : undefined;
  if (!h) return {};
  return {
    [`${prefix}_NAME`]: envValue(h.name_label),
    [`${prefix}_UUID`]: envValue(h.uuid),
    [`${prefix}_ADDRESS`]: envValue(h.address),
  };
}

/** A VM's variables (Ganeti's GANETI_INSTANCE_*): identity, state, size, disks, NICs, tags. */
export function vmEnv(r: EnvRecords, vm: string, prefix = 'BERTH_VM'): HookEnv {
  const rec = r.get('VM', vm);
  if (!rec) return {};
  const env: HookEnv = {
    [`${prefix}_UUID`]: envValue(rec.uuid),
    [`${prefix}_NAME`]: envValue(rec.name_label),
    [`${prefix}_POWER_STATE`]: envValue(String(rec.power_state).toLowerCase()),
    [`${prefix}_MEMORY`]: envValue(rec.memory_static_max),
    [`${prefix}_VCPUS`]: envValue(rec.VCPUs_max),
    [`${prefix}_TAGS`]: envValue(((rec.tags as string[]) ?? []).join(' ')),
  };
  const resident = isNull(rec.resident_on) ? undefined : r.get('host', String(rec.resident_on));
  env[`${prefix}_RESIDENT_ON`] = envValue(resident?.name_label);
  const vbds = ((rec.VBDs as string[]) ?? []).map((v) => r.get('VBD', v)).filter((b) => b && b.type !== 'CD');
  env[`${prefix}_DISK_COUNT`] = String(vbds.length);
  vbds.forEach((b, i) => {
    const vdi = isNull(b!.VDI) ? undefined : r.get('VDI', String(b!.VDI));
    env[`${prefix}_DISK${i}_SIZE`] = envValue(vdi?.virtual_size ?? 0);
    env[`${prefix}_DISK${i}_MODE`] = b!.mode === 'RO' ? 'ro' : 'rw';
  });
  const vifs = ((rec.VIFs as string[]) ?? []).map((v) => r.get('VIF', v)).filter((v) => v);
  env[`${prefix}_NIC_COUNT`] = String(vifs.length);
  vifs.forEach((v, i) => {
    const net = isNull(v!.network) ? undefined : r.get('network', String(v!.network));
    env[`${prefix}_NIC${i}_MAC`] = envValue(v!.MAC);
    env[`${prefix}_NIC${i}_BRIDGE`] = envValue(net?.bridge);
    env[`${prefix}_NIC${i}_NETWORK`] = envValue(net?.name_label);
  });
  return env;
}

/** An SR's variables: identity, type, sharing (never its PBDs' device_config). */
export function srEnv(r: EnvRecords, sr: string, prefix = 'BERTH_SR'): HookEnv {
  const rec = r.get('SR', sr);
  if (!rec) return {};
  return {
    [`${prefix}_UUID`]: envValue(rec.uuid),
    [`${prefix}_NAME`]: envValue(rec.name_label),
    [`${prefix}_TYPE`]: envValue(rec.type),
    [`${prefix}_CONTENT_TYPE`]: envValue(rec.content_type),
    [`${prefix}_SHARED`]: rec.shared ? 'true' : 'false',
  };
}

/** The variables every hook gets: the layout version, phase, operation, pool and master. */
export function commonEnv(
  r: EnvRecords,
  op: { hpath: string; wire: string; objectType: string; phase: 'pre' | 'post' },
  pool: string,
  master: string,
  extra: { taskUuid?: string; user?: string },
): HookEnv {
  const p = r.get('pool', pool);
  const env: HookEnv = {
    BERTH_HOOKS_VERSION,
    BERTH_HOOKS_PHASE: op.phase,
    BERTH_HOOKS_PATH: op.hpath,
    BERTH_OP_CODE: op.wire,
    BERTH_OBJECT_TYPE: op.objectType,
    BERTH_POOL: envValue(p?.name_label),
    BERTH_POOL_UUID: envValue(p?.uuid),
    ...Object.fromEntries(Object.entries(hostEnv(r, 'BERTH_MASTER', master))),
  };
  if (extra.taskUuid) env.BERTH_TASK_UUID = envValue(extra.taskUuid);
  if (extra.user) env.BERTH_USER = envValue(extra.user);
  return env;
}
