// A complete VM record with sensible values for every field `VM.create` requires; templates,
// the control domain and tests start from it.
import { NULL_REF } from '../../shared/datamodel/types.js';

const MiB = 1024 * 1024;

export function baseVmRecord(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name_label: '',
    name_description: '',
    user_version: 1,
    is_a_template: false,
    affinity: NULL_REF,
    memory_static_max: 256 * MiB,
    memory_dynamic_max: 256 * MiB,
    memory_dynamic_min: 256 * MiB,
    memory_static_min: 256 * MiB,
    VCPUs_params: {},
    VCPUs_max: 1,
    VCPUs_at_startup: 1,
    actions_after_shutdown: 'destroy',
    actions_after_reboot: 'restart',
    actions_after_crash: 'restart',
    PV_bootloader: '',
    PV_kernel: '',
    PV_ramdisk: '',
    PV_args: '',
    PV_bootloader_args: '',
    PV_legacy_args: '',
    HVM_boot_policy: '',
    HVM_boot_params: {},
    platform: { 'cores-per-socket': '1' },
    PCI_bus: '',
    other_config: {},
    recommendations: '',
    ...overrides,
  };
}
