// hypervisor_validate_params (Ganeti's ValidateHVParams) for Berth's one hypervisor, QEMU (KVM or
// TCG): the VM fields the manager turns into an instance spec (src/manager/vm/spec.ts) are mapped
// the same way and put through the agent's own spec checks (qemu/spec-check.ts), so what passes
// here is what instance_start accepts; like Ganeti's node-side check, the kernel and initrd must
// exist on this host. `platform:*` keys (xapi's domain-builder hints) are accepted and ignored.
import { statSync } from 'node:fs';
import { XenApiError } from '../../shared/errors.js';
import type { HvParamsCheck } from '../../shared/host/node-storage.js';
import type { InstanceSpec } from '../../shared/noded/instance.js';
import { checkSpec } from '../qemu/spec-check.js';

export const HYPERVISORS = ['kvm', 'qemu'] as const;

/** The keys Berth's QEMU uses, and the spec field each one becomes (for error messages). */
export const HV_PARAMS: Readonly<Record<string, keyof InstanceSpec>> = {
  VCPUs_at_startup: 'vcpus',
  VCPUs_max: 'vcpusMax',
  memory_static_max: 'memoryMaxBytes',
  memory_dynamic_max: 'memoryBytes',
  PV_kernel: 'kernel',
  PV_ramdisk: 'initrd',
  PV_args: 'cmdline',
  'other_config:balloon': 'balloon',
};

const MiB = 1024 * 1024;
const bad = (key: string, value: string, why: string) => new XenApiError('INVALID_VALUE', [key, value, why]);

function count(key: string, v: string): number {
  if (!/^[0-9]{1,16}$/.test(v)) throw bad(key, v, 'a non-negative integer');
  return Number(v);
}

/** The spec these params give (defaults where absent: 1 vCPU, 256 MiB), or INVALID_VALUE (pure). */
export function specOf(params: Record<string, string>): { spec: InstanceSpec; ignored: string[] } {
  const ignored: string[] = [];
  for (const k of Object.keys(params)) {
    if (k.startsWith('platform:')) ignored.push(k);
    else if (!Object.hasOwn(HV_PARAMS, k)) throw bad(k, params[k], "not a parameter of Berth's QEMU");
  }
  const n = (k: string) => (params[k] === undefined ? undefined : count(k, params[k]));
  const vcpus = n('VCPUs_at_startup') ?? 1;
  const staticMax = n('memory_static_max');
  const dynamicMax = n('memory_dynamic_max') ?? staticMax ?? 256 * MiB;
  if (staticMax !== undefined && dynamicMax > staticMax)
    throw bad('memory_dynamic_max', String(dynamicMax), 'above memory_static_max');
  const balloon = params['other_config:balloon'];
  if (balloon !== undefined && balloon !== 'true' && balloon !== 'false')
    throw bad('other_config:balloon', balloon, 'true or false');
  const vcpusMax = n('VCPUs_max') ?? vcpus;
  if (vcpusMax < vcpus) throw bad('VCPUs_max', String(vcpusMax), 'below VCPUs_at_startup');
  const spec: InstanceSpec = {
    uuid: '00000000-0000-4000-8000-000000000000',
    name: 'hypervisor_validate_params',
    vcpus,
    vcpusMax,
    memoryBytes: dynamicMax,
    memoryMaxBytes: staticMax ?? dynamicMax,
    ...(params.PV_kernel ? { kernel: params.PV_kernel } : {}),
    ...(params.PV_ramdisk ? { initrd: params.PV_ramdisk } : {}),
    ...(params.PV_args ? { cmdline: params.PV_args } : {}),
    disks: [],
    nics: [],
    balloon: balloon === 'true' || dynamicMax < (staticMax ?? dynamicMax),
    startPaused: false,
  };
  try {
    checkSpec(spec);
  } catch (e) {
    if (!(e instanceof XenApiError)) throw e;
    const key = Object.keys(HV_PARAMS).find((k) => HV_PARAMS[k] === e.params[0]) ?? e.params[0];
    throw bad(key, params[key] ?? e.params[1] ?? '', 'refused by the instance spec checks');
  }
  return { spec, ignored };
}

export function validateHvParams(hvname: string, params: Record<string, string>): HvParamsCheck {
  if (!(HYPERVISORS as readonly string[]).includes(hvname))
    throw new XenApiError('INVALID_VALUE', ['hvname', hvname, `one of ${HYPERVISORS.join(', ')}`]);
  const { spec, ignored } = specOf(params);
  for (const [key, path] of [
    ['PV_kernel', spec.kernel],
    ['PV_ramdisk', spec.initrd],
  ] as const) {
    if (path === undefined) continue;
    let ok = false;
    try {
      ok = statSync(path).isFile();
    } catch {
      ok = false;
    }
    if (!ok) throw bad(key, path, 'no such file on this host');
  }
  return { ignored: ignored.sort() };
}
