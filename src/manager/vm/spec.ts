// Builds the agent's instance spec from a VM record (pure).
import type { Row } from '../db/database.js';
import type { InstanceSpec } from './host-agent.js';

export function instanceSpec(vm: Row, startPaused: boolean, extra: Partial<InstanceSpec> = {}): InstanceSpec {
  const vcpus = Math.max(1, Number(vm.VCPUs_at_startup) || 1);
  const dynamicMax = Number(vm.memory_dynamic_max) || Number(vm.memory_static_max);
  const staticMax = Math.max(Number(vm.memory_static_max) || dynamicMax, dynamicMax);
  return {
    uuid: String(vm.uuid),
    name: String(vm.name_label ?? ''),
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
