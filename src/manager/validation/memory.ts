// VM memory constraints as xapi's Vm_memory_constraints checks them at set time
// (ocaml/xapi/xapi_vm_memory_constraints.ml), plus the bounds within which Berth's agent can run
// a guest at all. Pure functions: each returns the error a set of constraints raises, or nothing.
import { XenApiError } from '../../shared/errors.js';
import type { Row } from '../db/database.js';

const MiB = 1024 * 1024;
/** The agent refuses to boot a guest with less (src/agent/qemu/spec-check.ts). */
export const MIN_BOOT_MEMORY = 16 * MiB;
/** The agent's largest guest (4 TiB). */
export const MAX_MEMORY = 4 * 1024 * 1024 * MiB;

export interface MemoryConstraints {
  static_min: number;
  dynamic_min: number;
  target: number;
  dynamic_max: number;
  static_max: number;
}

/** The constraints a VM record carries. */
export function memoryOf(vm: Row): MemoryConstraints {
  return {
    static_min: Number(vm.memory_static_min),
    dynamic_min: Number(vm.memory_dynamic_min),
    target: Number(vm.memory_target),
    dynamic_max: Number(vm.memory_dynamic_max),
    static_max: Number(vm.memory_static_max),
  };
}

/** The VM fields a set of constraints is written to (Vm_memory_constraints.set). */
export function memoryFields(c: MemoryConstraints): Row {
  return {
    memory_static_min: c.static_min,
    memory_dynamic_min: c.dynamic_min,
    memory_target: c.target,
    memory_dynamic_max: c.dynamic_max,
    memory_static_max: c.static_max,
  };
}

/** xapi's are_valid: static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max. */
export const inOrder = (c: MemoryConstraints) =>
  c.static_min <= c.dynamic_min && c.dynamic_min <= c.dynamic_max && c.dynamic_max <= c.static_max;

/** xapi's are_valid_and_pinned_at_static_max: static_min ≤ dynamic_min = dynamic_max = static_max. */
export const pinnedAtStaticMax = (c: MemoryConstraints) =>
  c.static_min <= c.dynamic_min && c.dynamic_min === c.dynamic_max && c.dynamic_max === c.static_max;

/**
 * Berth's bounds (xapi has none at set time; its backend fails at start): every value a whole
 * number of bytes, the minima at least 0, the maxima within what the agent can boot.
 * → MEMORY_CONSTRAINT_VIOLATION [constraint].
 */
export function boundsError(c: MemoryConstraints): XenApiError | undefined {
  const bounds: [keyof MemoryConstraints, number][] = [
    ['static_min', 0],
    ['dynamic_min', 0],
    ['dynamic_max', MIN_BOOT_MEMORY],
    ['static_max', MIN_BOOT_MEMORY],
  ];
  for (const [field, min] of bounds) {
    const v = c[field];
    if (!Number.isSafeInteger(v) || v < min || v > MAX_MEMORY) {
      return new XenApiError('MEMORY_CONSTRAINT_VIOLATION', [
        `${min} ≤ memory_${field} ≤ ${MAX_MEMORY} (got ${v})`,
      ]);
    }
  }
  return undefined;
}

/**
 * assert_valid_for_current_context: a control domain must stay pinned at static_max
 * (MEMORY_CONSTRAINT_VIOLATION_MAXPIN ["control domain"]), so must a VM with nested
 * virtualisation (["nested virt"]); any other VM needs the order
 * (MEMORY_CONSTRAINT_VIOLATION_ORDER []). Berth's bounds are checked first.
 */
export function constraintsError(vm: Row, c: MemoryConstraints): XenApiError | undefined {
  const bounds = boundsError(c);
  if (bounds) return bounds;
  const pinReason = vm.is_control_domain ? 'control domain' : nestedVirt(vm) ? 'nested virt' : undefined;
  if (pinReason !== undefined) {
    return pinnedAtStaticMax(c)
      ? undefined
      : new XenApiError('MEMORY_CONSTRAINT_VIOLATION_MAXPIN', [pinReason]);
  }
  return inOrder(c) ? undefined : new XenApiError('MEMORY_CONSTRAINT_VIOLATION_ORDER', []);
}

/** platform:nested-virt as Vm_platform.is_true reads it. */
export function nestedVirt(vm: Row): boolean {
  const v = (vm.platform as Record<string, string> | undefined)?.['nested-virt'];
  return v !== undefined && ['true', '1', 'on'].includes(v.toLowerCase());
}

/**
 * What VM.start checks unless `force` (xapi's assert_memory_constraints): a VM with nested
 * virtualisation must have its memory pinned at static_max.
 */
export function startMemoryError(vm: Row): XenApiError | undefined {
  if (nestedVirt(vm) && !pinnedAtStaticMax(memoryOf(vm)))
    return new XenApiError('MEMORY_CONSTRAINT_VIOLATION_MAXPIN', ['nested virt']);
  return undefined;
}
