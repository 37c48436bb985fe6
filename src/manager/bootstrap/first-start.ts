// What clients expect to find: one pool whose master is this host, the host with its metrics,
// CPUs and control-domain VM, the RBAC role objects, and a root account. Created on the first
// start; host facts are refreshed on every start.
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { cpuInfoMap, type HostFacts } from '../../shared/host-facts.js';
import { logger } from '../../shared/log.js';
import { BERTH_VERSION, PLATFORM_VERSION, PRODUCT_BRAND } from '../../shared/version.js';
import { generatePassword } from '../auth/passwords.js';
import { md5Uuid, permissions, ROLE_DESCRIPTIONS, ROLE_NAMES } from '../auth/roles.js';
import type { UserStore } from '../auth/users.js';
import type { Database } from '../db/database.js';
import { nowXapi } from '../time.js';
import { baseVmRecord } from './vm-record.js';

const log = logger('bootstrap');

/** Creates the static role and permission objects that are missing (refs and uuids are fixed). */
export function syncRoles(db: Database): void {
  const perms = permissions(db.model);
  db.transaction(() => {
    for (const p of perms) {
      const uuid = md5Uuid(p.name);
      const ref = `OpaqueRef:${uuid}`;
      if (!db.has('role', ref)) {
        db.create(
          'role',
          { uuid, name_label: p.name.toLowerCase(), name_description: '', subroles: [], is_internal: true },
          ref,
        );
      }
    }
    for (const role of ROLE_NAMES) {
      const uuid = md5Uuid(role);
      const ref = `OpaqueRef:${uuid}`;
      const subroles = perms.filter((p) => p.roles.includes(role)).map((p) => `OpaqueRef:${md5Uuid(p.name)}`);
      if (!db.has('role', ref)) {
        db.create(
          'role',
          { uuid, name_label: role, name_description: ROLE_DESCRIPTIONS[role], subroles, is_internal: false },
          ref,
        );
      } else if ((db.get('role', ref)!.subroles as string[]).length !== subroles.length) {
        db.update('role', ref, { subroles });
      }
    }
  });
}

export function softwareVersion(facts: HostFacts): Record<string, string> {
  return {
    product_version: BERTH_VERSION,
    product_version_text: BERTH_VERSION,
    product_version_text_short: BERTH_VERSION,
    platform_name: PRODUCT_BRAND,
    platform_version: PLATFORM_VERSION,
    product_brand: PRODUCT_BRAND,
    build_number: BERTH_VERSION,
    hostname: facts.hostname,
    date: '2026-11-22',
    xapi: '25.6',
    linux: facts.kernel,
    xencenter_min: '2.21',
    xencenter_max: '2.21',
    network_backend: 'bridge',
    db_schema: '5.900',
  };
}

export interface Bootstrapped {
  poolRef: string;
  hostRef: string;
}

/** Ensures the pool/host objects exist and reflect this machine. */
export function ensurePoolAndHost(
  db: Database,
  facts: HostFacts,
  apiVersion: { major: number; minor: number },
): Bootstrapped {
  return db.transaction(() => {
    const existingPool = [...db.all('pool').keys()][0];
    if (existingPool) {
      const hostRef = String(db.get('pool', existingPool)!.master);
      refreshHost(db, hostRef, facts, apiVersion);
      return { poolRef: existingPool, hostRef };
    }
    const metrics = db.create('host_metrics', {
      memory_total: facts.memoryTotal,
      memory_free: facts.memoryFree,
      live: true,
      last_updated: nowXapi(),
      other_config: {},
    });
    const hostRef = db.create('host', {
      name_label: facts.hostname,
      name_description: 'Default install',
      other_config: { agent_start_time: String(Date.now() / 1000) },
      logging: {},
      suspend_image_sr: NULL_REF,
      crash_dump_sr: NULL_REF,
      hostname: facts.hostname,
      address: facts.address,
      software_version: softwareVersion(facts),
      capabilities: ['hvm-3.0-x86_64', 'hvm-3.0-x86_32'],
      API_version_major: apiVersion.major,
      API_version_minor: apiVersion.minor,
      API_version_vendor: 'XenSource',
      API_version_vendor_implementation: {},
      enabled: true,
      cpu_configuration: {},
      sched_policy: 'credit',
      supported_bootloaders: ['pygrub', 'eliloader'],
      cpu_info: cpuInfoMap(facts.cpus),
      metrics,
      license_params: { sku_type: 'free', expiry: '30000101T00:00:00Z' },
      chipset_info: { iommu: 'false' },
      bios_strings: {},
      edition: 'berth',
    });
    for (const cpu of facts.cpus) {
      db.create('host_cpu', {
        host: hostRef,
        number: cpu.number,
        vendor: cpu.vendor,
        speed: cpu.speed,
        modelname: cpu.modelname,
        family: cpu.family,
        model: cpu.model,
        stepping: cpu.stepping,
        flags: cpu.flags,
        features: '',
        utilisation: 0,
        other_config: {},
      });
    }
    const vmMetrics = db.create('VM_metrics', {
      memory_actual: Math.min(facts.memoryTotal, 2 ** 31),
      VCPUs_number: facts.cpus.length,
      start_time: nowXapi(),
      install_time: nowXapi(),
      last_updated: nowXapi(),
      state: [],
      other_config: {},
    });
    const dom0 = db.create(
      'VM',
      baseVmRecord({
        name_label: `Control domain on host: ${facts.hostname}`,
        name_description: 'The domain which manages physical devices and manages other domains',
        is_control_domain: true,
        power_state: 'Running',
        resident_on: hostRef,
        domid: 0,
        memory_static_max: facts.memoryTotal,
        memory_dynamic_max: facts.memoryTotal,
        memory_dynamic_min: facts.memoryTotal,
        memory_static_min: facts.memoryTotal,
        VCPUs_max: facts.cpus.length,
        VCPUs_at_startup: facts.cpus.length,
        metrics: vmMetrics,
        domain_type: 'pv',
        other_config: { storage_driver_domain: '', is_system_domain: 'true' },
      }),
    );
    db.update('host', hostRef, { control_domain: dom0 });
    const poolRef = db.create('pool', {
      name_label: '',
      name_description: '',
      master: hostRef,
      default_SR: NULL_REF,
      suspend_image_SR: NULL_REF,
      crash_dump_SR: NULL_REF,
      other_config: {},
      restrictions: { restrict_zstd_export: 'false', restrict_vtpm: 'true' },
      cpu_info: { cpu_count: String(facts.cpus.length), socket_count: cpuInfoMap(facts.cpus).socket_count },
      uuid: randomUUID(),
    });
    log.info('created pool and host', { pool: poolRef, host: hostRef });
    return { poolRef, hostRef };
  });
}

function refreshHost(
  db: Database,
  hostRef: string,
  facts: HostFacts,
  apiVersion: { major: number; minor: number },
) {
  const host = db.mustGet('host', hostRef);
  db.update('host', hostRef, {
    hostname: facts.hostname,
    address: facts.address,
    software_version: softwareVersion(facts),
    API_version_major: apiVersion.major,
    API_version_minor: apiVersion.minor,
    cpu_info: cpuInfoMap(facts.cpus),
  });
  const metrics = String(host.metrics);
  if (db.has('host_metrics', metrics)) {
    db.update('host_metrics', metrics, {
      memory_total: facts.memoryTotal,
      memory_free: facts.memoryFree,
      live: true,
      last_updated: nowXapi(),
    });
  }
}

/**
 * Creates `root` with a generated password on first start, written once to a root-only file
 * (mode 0600) in the data directory. Returns the file's path when it was created.
 */
export async function ensureRootUser(users: UserStore, dataDir: string): Promise<string | undefined> {
  if (users.get('root')) return undefined;
  const password = process.env.BERTH_ROOT_PASSWORD || generatePassword();
  await users.add('root', 'pool-admin', password);
  const file = join(dataDir, 'root-password');
  if (!existsSync(file)) writeFileSync(file, `${password}\n`, { mode: 0o600 });
  log.info('created user root; its password is in the root-only file', { file });
  return file;
}
