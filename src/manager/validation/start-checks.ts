// What VM.start and VM.resume check unless called with force=true, as xapi does: start checks
// that a VM with nested virtualisation has its memory pinned (xapi_vm.assert_memory_constraints);
// resume checks that the CPU the VM last booted on is compatible with this host's
// (Cpuid_helpers.assert_vm_is_compatible). Pure functions returning the error, if any.
import { XenApiError } from '../../shared/errors.js';
import type { Row } from '../db/database.js';
import { startMemoryError } from './memory.js';

export { startMemoryError };

/** Feature words as xapi prints them: 8-hex-digit groups joined by '-'. */
function words(s: string): number[] | undefined {
  if (!/^[0-9a-fA-F]{1,8}(-[0-9a-fA-F]{1,8})*$/.test(s)) return undefined;
  return s.split('-').map((w) => Number.parseInt(w, 16));
}

/** Every feature bit the VM saw is present on the host (xenopsd's HOST.is_compatible). */
function featuresSubset(vm: number[], host: number[]): boolean {
  return vm.every((w, i) => ((w >>> 0) & ~(host[i] ?? 0)) >>> 0 === 0);
}

/**
 * VM_INCOMPATIBLE_WITH_THIS_HOST [vm, host, reason] when a non-halted VM's last_boot_CPU_flags
 * name another vendor or features this host lacks; a host without leveling keys
 * (features_hvm / features_pv) cannot compare features, as in xapi.
 */
export function cpuCompatError(vmRef: string, vm: Row, hostRef: string, host: Row): XenApiError | undefined {
  if (vm.power_state === 'Halted') return undefined;
  const fail = (reason: string) =>
    new XenApiError('VM_INCOMPATIBLE_WITH_THIS_HOST', [vmRef, hostRef, reason]);
  const flags = (vm.last_boot_CPU_flags as Record<string, string>) ?? {};
  const cpu = (host.cpu_info as Record<string, string>) ?? {};
  if ('vendor' in flags && flags.vendor !== cpu.vendor)
    return fail('VM last booted on a host which had a CPU from a different vendor.');
  if ('features' in flags) {
    const hostKey = vm.domain_type === 'pv' ? 'features_pv' : 'features_hvm';
    if (!(hostKey in cpu))
      return fail("Host does not have new leveling feature keys - not comparing VM's flags");
    const vmWords = words(flags.features);
    const hostWords = words(cpu[hostKey]);
    if (!vmWords || !hostWords || !featuresSubset(vmWords, hostWords))
      return fail("VM last booted on a CPU with features this host's CPU does not have.");
  }
  return undefined;
}
