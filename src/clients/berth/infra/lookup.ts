// Finding the objects a verb option names (`-H host`, `--default-sr SR`, `-i eth0`): by uuid or
// by name, with the CLI's not-found (252) and ambiguity (251) errors. Shared by the infra nouns.
import type { Api, ApiObject } from '../api.js';
import { XenApiError } from '../../../shared/errors.js';
import { CliError, notFoundError } from '../errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The one object of `cls` whose uuid is `key` or whose `field` equals it. */
export async function findOne(api: Api, cls: string, key: string, field = 'name_label'): Promise<ApiObject> {
  const all = await api.allRecords(cls);
  const byUuid = UUID_RE.test(key) ? all.filter((o) => o.record.uuid === key) : [];
  const found = byUuid.length ? byUuid : all.filter((o) => String(o.record[field]) === key);
  if (found.length === 0) throw notFoundError(`no ${cls} found matching '${key}'`);
  if (found.length > 1) throw new CliError(`Too many ${cls} objects found matching '${key}'`);
  return found[0];
}

/** The host `-H` names, else the pool master (a single host's own). */
export async function hostOrMaster(api: Api, key: string | undefined): Promise<ApiObject> {
  if (key) return findOne(api, 'host', key);
  const [pool] = await api.allRecords('pool');
  if (!pool) throw notFoundError('no pool found');
  return api.byRef('host', String(pool.record.master));
}

/** The PIF of `host` with this device name (`eth0`), or by uuid. */
export async function pifOfHost(api: Api, host: ApiObject, device: string): Promise<ApiObject> {
  const all = await api.allRecords('PIF');
  const found = all.filter(
    (p) => p.record.host === host.ref && (p.record.device === device || p.record.uuid === device),
  );
  if (found.length === 0) throw notFoundError(`no PIF ${device} on host ${String(host.record.name_label)}`);
  if (found.length > 1)
    throw new CliError(`Too many PIFs named ${device} on host ${String(host.record.name_label)}`);
  return found[0];
}

/** A target the runner resolved for a `one` verb. */
export function one(target: ApiObject | ApiObject[] | undefined): ApiObject {
  if (!target || Array.isArray(target)) throw new CliError('validation failed');
  return target;
}

/** Targets the runner resolved for a `many` verb. */
export function many(target: ApiObject | ApiObject[] | undefined): ApiObject[] {
  return Array.isArray(target) ? target : target ? [target] : [];
}

/** A task's final state, polled (the verbs that offer `-a/--async` wait this way otherwise). */
export async function waitTask(api: Api, task: string, pollMs = 200): Promise<unknown> {
  for (;;) {
    const r = (await api.call('task.get_record', task)) as Record<string, unknown>;
    if (r.status !== 'pending') {
      await api.call('task.destroy', task).catch(() => {});
      if (r.status === 'success') return r.result;
      const info = (r.error_info as string[]) ?? [];
      throw new XenApiError(info[0] ?? `TASK_${String(r.status).toUpperCase()}`, info.slice(1));
    }
    await new Promise((res) => setTimeout(res, pollMs));
  }
}
