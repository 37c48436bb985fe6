// xapi's pre-join checks (xapi_pool.ml pre_join_checks), in xapi's order and with its errors, for
// what Berth has: the joining host asks the master over its API and compares with its own records.
// Every check runs before either database changes.
import type { XenApiClient } from '../../clients/sdk/client.js';
import { XenApiError } from '../../shared/errors.js';
import type { Database, Row } from '../db/database.js';

export interface MasterFacts {
  pool: Row;
  master: Row;
}

/** Reads what the checks need from the master. */
export async function readMasterFacts(api: XenApiClient): Promise<MasterFacts> {
  const pools = (await api.call('pool.get_all')) as string[];
  if (pools.length !== 1) throw new XenApiError('INTERNAL_ERROR', ['Remote host does not belong to a pool.']);
  const pool = (await api.call('pool.get_record', pools[0] as never)) as unknown as Row;
  const master = (await api.call('host.get_record', pool.master as never)) as unknown as Row;
  return { pool, master };
}

const versionFields = (sv: Record<string, string>) =>
  [sv.xapi ?? '', sv.platform_name ?? '', sv.product_version ?? '', sv.platform_version ?? ''].join('/');

/** Throws the first failing check's xapi error. */
export function preJoinChecks(db: Database, me: string, m: MasterFacts, force: boolean): void {
  const mine = db.mustGet('host', me);
  // assert_management_interface_exists: a host with PIFs must have its management one (xapi:
  // HOST_STILL_BOOTING). A host without managed networking has no PIFs at all and may join.
  const pifs = [...db.all('PIF').values()].filter((p) => p.host === me);
  if (pifs.length > 0 && !pifs.some((p) => p.management === true))
    throw new XenApiError('HOST_STILL_BOOTING', []);
  // assert_not_joining_myself
  if (m.master.uuid === mine.uuid) {
    const why =
      db.count('host') > 1 ? 'Host is already part of a pool' : 'Host cannot become slave of itself';
    throw new XenApiError('OPERATION_NOT_ALLOWED', [why]);
  }
  // assert_i_know_of_no_other_hosts
  if (db.count('host') > 1) throw new XenApiError('JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS', []);
  const vms = [...db.all('VM').values()].filter((vm) => !vm.is_control_domain);
  // assert_no_running_vms_on_me
  if (vms.some((vm) => vm.power_state === 'Running'))
    throw new XenApiError('JOINING_HOST_CANNOT_HAVE_RUNNING_VMS', []);
  // assert_no_vms_with_current_ops
  if (vms.some((vm) => Object.keys((vm.current_operations as object) ?? {}).length > 0))
    throw new XenApiError('JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS', []);
  // assert_hosts_homogeneous (skipped by join_force)
  if (!force) {
    const sv = (h: Row) => (h.software_version as Record<string, string>) ?? {};
    if (versionFields(sv(mine)) !== versionFields(sv(m.master)))
      throw new XenApiError('HOSTS_NOT_HOMOGENEOUS', ['Software version differs']);
    const vendor = (r: Row) => (r.cpu_info as Record<string, string>)?.vendor;
    const poolVendor = vendor(m.pool) ?? vendor(m.master) ?? '';
    if ((vendor(mine) ?? '') !== poolVendor) throw new XenApiError('HOSTS_NOT_HOMOGENEOUS', ['CPUs differ']);
  }
  // assert_no_shared_srs_on_me
  for (const sr of db.all('SR').values())
    if (sr.shared === true && sr.is_tools_sr !== true)
      throw new XenApiError('JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS', []);
  if (db.count('Bond') > 0) throw new XenApiError('POOL_JOINING_HOST_HAS_BONDS', []);
  if (db.count('tunnel') > 0) throw new XenApiError('POOL_JOINING_HOST_HAS_TUNNELS', []);
  for (const vlan of db.all('VLAN').values()) {
    const pif = db.get('PIF', String(vlan.untagged_PIF));
    if (!pif?.management) throw new XenApiError('POOL_JOINING_HOST_HAS_NON_MANAGEMENT_VLANS', []);
  }
  // assert_api_version_matches
  const api = (h: Row) => `${h.API_version_major}.${h.API_version_minor}`;
  if (api(mine) !== api(m.master))
    throw new XenApiError('POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION', [api(mine), api(m.master)]);
  // assert_db_schema_matches
  const schema = (h: Row) => (h.software_version as Record<string, string>)?.db_schema ?? '';
  if (!schema(mine) || !schema(m.master) || schema(mine) !== schema(m.master))
    throw new XenApiError('POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA', [schema(mine), schema(m.master)]);
}
