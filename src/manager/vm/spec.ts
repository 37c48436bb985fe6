// Builds the agent's instance spec from a VM record (pure).
import type { Row } from '../db/database.js';
import type { InstanceSpec } from './host-agent.js';

/**
 * The label QEMU gets: any name_label is valid in the API (xapi sets no limit), but the agent
 * takes at most 255 characters without NUL or newline.
 */
export function processName(label: string): string {
  let out = '';
  for (const ch of label.replace(/[\0\n]/g, ' ')) {
    if (out.length + ch.length > 255) break;
    out += ch;
  }
  return out;
}

export function instanceSpec(vm: Row, startPaused: boolean, extra: Partial<InstanceSpec> = {}): InstanceSpec {
  const vcpus = Math.max(1, Number(vm.VCPUs_at_startup) || 1);
  const dynamicMax = Number(vm.memory_dynamic_max) || Number(vm.memory_static_max);
  const staticMax = Math.max(Number(vm.memory_static_max) || dynamicMax, dynamicMax);
  return {
    uuid: String(vm.uuid),
    name: processName(String(vm.name_label ?? '')),
    vcpus,
    vcpusMax: Math.max(vcpus, Number(vm.VCPUs_max) || vcpus),
    memoryBytes: dynamicMax,
    memoryMaxBytes: staticMax,
    kernel: vm.PV_kernel ? String(vm.PV_kernel) : undefined,
    initrd: vm.PV_ramdisk ? String(vm.PV_ramdisk) : undefined,
    cmdline: vm.PV_args ? String(vm.PV_args) : undefined,
    disks: [],
    nics: [],
    balloon: dynamicMax < staticMax || (vm.other_config as Record<string, string>)?.balloon === 'true',
    startPaused,
    ...extra,
  };
}
