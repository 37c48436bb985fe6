// Disks and NICs of a VM as `vm create`, `vm disks` and `vm nics` add them: a new VDI in an SR
// plugged as the next free device, an existing VDI attached, a VIF on a network. Plain XenAPI
// record calls; the messages are xapi's (the manager checks sizes, SRs and device numbers).
import type { Api } from '../api.js';
import { CliError, EXIT_USAGE } from '../errors.js';
import { parseSize } from '../size.js';

/** The device numbers in use among `refs` (VBDs or VIFs, by their field). */
async function usedDevices(api: Api, cls: 'VBD' | 'VIF', refs: string[]): Promise<Set<number>> {
  const field = cls === 'VBD' ? 'userdevice' : 'device';
  const used = new Set<number>();
  for (const r of refs) used.add(Number(await api.call(`${cls}.get_${field}`, r)));
  return used;
}

/** The lowest device number not in `used`. */
export function firstFree(used: Set<number>): number {
  let n = 0;
  while (used.has(n)) n++;
  return n;
}

/**
 * `--disk` as oVirtCmd reads it: `SIZE[,SUFFIX[,SR]]` for a new disk, or an existing VDI's uuid.
 * Sizes take K/M/G/T (`16G`).
 */
export type DiskSpec =
  | { kind: 'new'; size: number; suffix?: string; sr?: string }
  | { kind: 'existing'; vdi: string };

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseDiskSpec(text: string | unknown[]): DiskSpec {
  // A YAML template may give a disk as a list ([16G, sys, sr1]).
  const parts = Array.isArray(text) ? text.map((p) => String(p)) : String(text).split(',');
  if (parts.length === 1 && UUID_RE.test(parts[0].trim())) return { kind: 'existing', vdi: parts[0].trim() };
  if (parts.length > 3 || !parts[0])
    throw new CliError(`invalid disk '${String(text)}' (SIZE[,SUFFIX[,SR]] or a VDI uuid)`, EXIT_USAGE);
  const size = parseSize(parts[0].trim());
  if (size <= 0) throw new CliError(`invalid disk size '${parts[0]}'`, EXIT_USAGE);
  return { kind: 'new', size, suffix: parts[1]?.trim() || undefined, sr: parts[2]?.trim() || undefined };
}

/** A new VDI of `size` bytes in `sr`; its ref. */
export async function createVdi(
  api: Api,
  o: { sr: string; size: number; name: string; description?: string },
): Promise<string> {
  return (await api.call('VDI.create', {
    name_label: o.name,
    name_description: o.description ?? '',
    SR: o.sr,
    virtual_size: o.size,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    xenstore_data: {},
    sm_config: {},
    tags: [],
  })) as string;
}

/**
 * Attaches `vdi` to `vm` at the next free device (bootable when asked) and plugs it when the VM
 * runs (hot-plug); the VBD's ref.
 */
export async function attachVdi(api: Api, vm: string, vdi: string, bootable: boolean): Promise<string> {
  const used = await usedDevices(api, 'VBD', (await api.call('VM.get_VBDs', vm)) as string[]);
  const vbd = (await api.call('VBD.create', {
    VM: vm,
    VDI: vdi,
    userdevice: String(firstFree(used)),
    bootable,
    mode: 'RW',
    type: 'Disk',
    empty: false,
    unpluggable: true,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  })) as string;
  if ((await api.call('VM.get_power_state', vm)) === 'Running') await api.call('VBD.plug', vbd);
  return vbd;
}

/** A VIF of `vm` on `network` at the next free device (MAC chosen by the manager), plugged when running. */
export async function addVif(api: Api, vm: string, network: string, mac = ''): Promise<string> {
  const used = await usedDevices(api, 'VIF', (await api.call('VM.get_VIFs', vm)) as string[]);
  const vif = (await api.call('VIF.create', {
    device: String(firstFree(used)),
    network,
    VM: vm,
    MAC: mac,
    MTU: Number(await api.call('network.get_MTU', network)) || 1500,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  })) as string;
  if ((await api.call('VM.get_power_state', vm)) === 'Running') await api.call('VIF.plug', vif);
  return vif;
}
