// The environment of an OS script (Ganeti's OSCoreEnv / OSEnvironment), pure: the process's own
// environment is never passed on; every value is a string.
import type { OsInstance } from '../../shared/host/os.js';

export const SCRIPT_PATH = '/sbin:/bin:/usr/sbin:/usr/bin';

/** OSP_<NAME>: upper-cased, `-` → `_`. */
export const ospName = (param: string) => `OSP_${param.toUpperCase().replace(/-/g, '_')}`;

/** The core environment (os_validate's): API version, OS name and variant, debug level, parameters. */
export function coreEnv(
  osName: string,
  variant: string | undefined,
  api: number,
  params: Record<string, string>,
  debug: number,
): Record<string, string> {
  const env: Record<string, string> = {
    OS_API_VERSION: String(api),
    OS_NAME: osName,
    DEBUG_LEVEL: String(debug),
    PATH: SCRIPT_PATH,
  };
  if (api >= 15 && variant !== undefined) env.OS_VARIANT = variant;
  if (api >= 20) for (const [k, v] of Object.entries(params)) env[ospName(k)] = v;
  return env;
}

/** An attached disk as the script sees it: its host block device and size. */
export interface AttachedDisk {
  device: string;
  sizeBytes: number;
}

/** The full environment of create / rename / import / export for `inst` with its attached disks. */
export function instanceEnv(
  inst: OsInstance,
  core: Record<string, string>,
  attached: readonly AttachedDisk[],
): Record<string, string> {
  const env: Record<string, string> = {
    ...core,
    INSTANCE_NAME: inst.name,
    INSTANCE_OS: inst.os,
    INSTANCE_UUID: inst.uuid,
    INSTANCE_PRIMARY_NODE: inst.primaryNode ?? '',
    INSTANCE_SECONDARY_NODES: '',
    HYPERVISOR: 'kvm',
    DISK_COUNT: String(inst.disks.length),
    NIC_COUNT: String(inst.nics.length),
  };
  inst.disks.forEach((d, i) => {
    const a = attached[i];
    env[`DISK_${i}_PATH`] = a.device;
    env[`DISK_${i}_ACCESS`] = d.readonly ? 'ro' : 'rw';
    env[`DISK_${i}_SIZE`] = String(Math.floor(a.sizeBytes / (1024 * 1024)));
    // Berth's VMs see their disks as virtio-blk (Ganeti's KVM disk_type "paravirtual").
    env[`DISK_${i}_FRONTEND_TYPE`] = 'paravirtual';
    env[`DISK_${i}_BACKEND_TYPE`] = 'block';
    if (d.uuid) env[`DISK_${i}_UUID`] = d.uuid;
    if (d.name) env[`DISK_${i}_NAME`] = d.name;
  });
  inst.nics.forEach((n, i) => {
    env[`NIC_${i}_MAC`] = n.mac;
    env[`NIC_${i}_MODE`] = 'bridged';
    env[`NIC_${i}_FRONTEND_TYPE`] = 'paravirtual';
    if (n.bridge) {
      env[`NIC_${i}_BRIDGE`] = n.bridge;
      env[`NIC_${i}_LINK`] = n.bridge;
    }
    if (n.uuid) env[`NIC_${i}_UUID`] = n.uuid;
    if (n.name) env[`NIC_${i}_NAME`] = n.name;
  });
  for (const [k, v] of Object.entries(inst.beParams ?? {})) env[`INSTANCE_BE_${k}`] = v;
  return env;
}
