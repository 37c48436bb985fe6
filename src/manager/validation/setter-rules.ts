// xapi's checks on the setters, adders and removers it implements by hand (not the generated
// field accessors), as one table keyed by wire name. Each rule says which VM operation the call
// runs as (xapi's with_vm_operation / power-state check), what it writes when that differs from
// the plain field update, the checks (pure: they read the record and the database and throw
// xapi's error), the side effects by name (carried out by api/setters.ts) and a line for
// docs/setters.md. Sources: ocaml/xapi/{xapi_vm,xapi_vm_helpers,xapi_vif,xapi_network,xapi_pif,
// xapi_bond,xapi_host,xapi_pool,xapi_sr,xapi_subject,xapi_task,message_forwarding}.ml.
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import type { Database, Row } from '../db/database.js';
import { parseXapiTime } from '../time.js';
import { constraintsError, memoryOf } from './memory.js';
import {
  bondRequirements,
  biosStrings,
  GUEST_AGENT_CONFIG_REQUIREMENTS,
  HA_RESTART_PRIORITIES,
  invalidValue,
  ipAddrOrCidr,
  kvPair,
  maxCstate,
  mergedBiosStrings,
  nonNegative,
  ocamlFloat,
  PIF_PROPERTY_REQUIREMENTS,
  timezone,
  vlanTag,
  vmssSchedule,
  vmssScheduleFor,
  withDefaults,
} from './values.js';

/** The most vCPUs the agent starts a guest with (src/agent/qemu/spec-check.ts). */
export const MAX_VCPUS = 128;

/** What a check sees: the object, the call's arguments after `self`, and what it would write. */
export interface SetterCall {
  ref: string;
  row: Row;
  /** Declared parameters after `self`. */
  args: unknown[];
  /** The fields the call writes (the rule's propose, or the generic accessor's update). */
  write: Row;
  /** For reads only. */
  db: Database;
}

/** Side effects, carried out by api/setters.ts after the checks pass. */
export type SetterEffect =
  /** Running VM: the agent's balloon target becomes the new dynamic_max. */
  | 'balloon_dynamic_max'
  /** Running VM: the agent's balloon target becomes memory_target. */
  | 'balloon_target'
  /** Running VM: vCPUs hot-plugged to VCPUs_at_startup (VM_metrics.VCPUs_number follows). */
  | 'vcpus_live'
  /** VM.allowed_operations recomputed. */
  | 'allowed_operations'
  /** PIF properties copied to the bond's slaves. */
  | 'bond_slave_properties';

/** Checks that need the caller's session, done by api/setters.ts. */
export type SetterGuard = 'task_owner';

export interface SetterRule {
  /** The VM operation checked first (xapi_vm_lifecycle: blocked, power state, concurrency...). */
  op?: string | ((args: unknown[]) => string | undefined);
  /** The fields written, when they differ from the generic field update (may throw xapi's error). */
  propose?: (row: Row, args: unknown[]) => Row;
  check?: (c: SetterCall) => void;
  guards?: SetterGuard[];
  effects?: SetterEffect[];
  /** For docs/setters.md: the rule, the errors, the side effect. */
  doc: { rule: string; errors: string; effect?: string };
}

const str = (v: unknown) => String(v);
const num = (v: unknown) => Number(v);
const lower = (v: unknown) => String(v).toLowerCase();

/** Xapi_vm_lifecycle.assert_initial_power_state_is. */
function powerStateIs(c: SetterCall, expected: string, vm = c.ref, row = c.row) {
  if (row.power_state !== expected)
    throw new XenApiError('VM_BAD_POWER_STATE', [vm, lower(expected), lower(row.power_state)]);
}

/** The memory constraints after the write, checked as xapi's assert_valid_for_current_context. */
const memoryCheck = (c: SetterCall) => {
  const e = constraintsError(c.row, memoryOf({ ...c.row, ...c.write }));
  if (e) throw e;
};

const MEMORY_DOC_ERRORS =
  'MEMORY_CONSTRAINT_VIOLATION [constraint] (Berth bounds); MEMORY_CONSTRAINT_VIOLATION_ORDER []; ' +
  'MEMORY_CONSTRAINT_VIOLATION_MAXPIN [reason] (control domain, nested virt)';
const MEMORY_ORDER =
  'static_min ≤ dynamic_min ≤ dynamic_max ≤ static_max; 0 ≤ minima; 16 MiB ≤ maxima ≤ 4 TiB';

const dynamicRange = (_row: Row, min: number, max: number): Row => ({
  memory_dynamic_min: min,
  memory_target: min,
  memory_dynamic_max: max,
});

const limits = (smin: number, smax: number, dmin: number, dmax: number): Row => ({
  memory_static_min: smin,
  memory_static_max: smax,
  memory_dynamic_min: dmin,
  memory_dynamic_max: dmax,
  memory_target: dmin,
});

const VCPU_ORDER = 'VCPU values must satisfy: 0 < VCPUs_at_startup ≤ VCPUs_max';

const isDom0 = (row: Row) => Boolean(row.is_control_domain) && Number(row.domid) === 0;

/** A set field with the value added / removed, as xapi's setify. */
const uniq = (xs: unknown[]) => [...new Set(xs)];

/** Control domains, templates and snapshots may not join appliances or groups. */
function notPlainVm(c: SetterCall, text: string) {
  if (c.row.is_control_domain || c.row.is_a_template || c.row.is_a_snapshot)
    throw new XenApiError('OPERATION_NOT_ALLOWED', [text]);
}

const NO_CHECK = 'none at set time';

/** message_forwarding's ensure_vdi_not_on_running_vm: every VM with a VBD of the VDI is halted. */
function vdiNotOnRunningVm(c: SetterCall) {
  for (const vbd of (c.row.VBDs as string[]) ?? []) {
    const vm = str(c.db.get('VBD', vbd)?.VM);
    const row = c.db.get('VM', vm);
    if (row) powerStateIs(c, 'Halted', vm, row);
  }
}

export const SETTER_RULES: Record<string, SetterRule> = {
  // ---- VM memory (xapi_vm.ml; message_forwarding turns the single-field setters into ranges)
  'VM.set_memory_static_range': {
    op: 'changing_static_range',
    propose: (_row, [min, max]) => ({ memory_static_min: num(min), memory_static_max: num(max) }),
    check: memoryCheck,
    doc: { rule: `Halted; ${MEMORY_ORDER}`, errors: `VM_BAD_POWER_STATE; ${MEMORY_DOC_ERRORS}` },
  },
  'VM.set_memory_static_max': {
    op: 'changing_static_range',
    check: memoryCheck,
    doc: { rule: `as set_memory_static_range(static_min, value)`, errors: `as set_memory_static_range` },
  },
  'VM.set_memory_static_min': {
    op: 'changing_static_range',
    check: memoryCheck,
    doc: { rule: `as set_memory_static_range(value, static_max)`, errors: `as set_memory_static_range` },
  },
  'VM.set_memory_dynamic_range': {
    op: 'changing_dynamic_range',
    propose: (row, [min, max]) => dynamicRange(row, num(min), num(max)),
    check: memoryCheck,
    effects: ['balloon_dynamic_max'],
    doc: {
      rule: `Halted or Running; ${MEMORY_ORDER}; memory_target := min`,
      errors: `VM_BAD_POWER_STATE; ${MEMORY_DOC_ERRORS}`,
      effect: 'Running: the balloon target becomes dynamic_max (agent)',
    },
  },
  'VM.set_memory_dynamic_max': {
    op: 'changing_dynamic_range',
    propose: (row, [v]) => dynamicRange(row, num(row.memory_dynamic_min), num(v)),
    check: memoryCheck,
    effects: ['balloon_dynamic_max'],
    doc: {
      rule: 'as set_memory_dynamic_range(dynamic_min, value)',
      errors: 'as set_memory_dynamic_range',
      effect: 'as set_memory_dynamic_range',
    },
  },
  'VM.set_memory_dynamic_min': {
    op: 'changing_dynamic_range',
    propose: (row, [v]) => dynamicRange(row, num(v), num(row.memory_dynamic_max)),
    check: memoryCheck,
    effects: ['balloon_dynamic_max'],
    doc: {
      rule: 'as set_memory_dynamic_range(value, dynamic_max)',
      errors: 'as set_memory_dynamic_range',
      effect: 'as set_memory_dynamic_range',
    },
  },
  'VM.set_memory_limits': {
    op: 'changing_memory_limits',
    propose: (_row, [smin, smax, dmin, dmax]) => limits(num(smin), num(smax), num(dmin), num(dmax)),
    check: memoryCheck,
    doc: {
      rule: `Halted; ${MEMORY_ORDER}; memory_target := dynamic_min`,
      errors: `VM_BAD_POWER_STATE; ${MEMORY_DOC_ERRORS}`,
    },
  },
  'VM.set_memory': {
    op: 'changing_memory_limits',
    propose: (row, [v]) => limits(num(row.memory_static_min), num(v), num(v), num(v)),
    check: memoryCheck,
    doc: {
      rule: 'as set_memory_limits(static_min, value, value, value)',
      errors: 'as set_memory_limits',
    },
  },
  'VM.set_memory_target_live': {
    op: 'changing_memory_live',
    propose: (_row, [t]) => ({ memory_target: num(t) }),
    check: (c) => {
      const t = num(c.write.memory_target);
      if (!(num(c.row.memory_dynamic_min) <= t && t <= num(c.row.memory_dynamic_max)))
        throw new XenApiError('MEMORY_CONSTRAINT_VIOLATION', ['dynamic_min ≤ target ≤ dynamic_max']);
    },
    effects: ['balloon_target'],
    doc: {
      rule: 'Running; dynamic_min ≤ target ≤ dynamic_max (Berth; xapi ignores the call)',
      errors: 'VM_BAD_POWER_STATE; MEMORY_CONSTRAINT_VIOLATION [constraint]',
      effect: 'the balloon target becomes target (agent)',
    },
  },
  'VM.set_HVM_shadow_multiplier': {
    op: 'changing_shadow_memory',
    check: (c) => {
      if (!(num(c.args[0]) >= 1)) throw invalidValue('multiplier', ocamlFloat(num(c.args[0])));
    },
    doc: { rule: 'Halted; value ≥ 1', errors: 'VM_BAD_POWER_STATE; INVALID_VALUE ["multiplier", value]' },
  },
  'VM.set_shadow_multiplier_live': {
    op: 'changing_shadow_memory_live',
    propose: () => ({}),
    check: (c) => {
      if (!(num(c.args[0]) >= 1)) throw invalidValue('multiplier', ocamlFloat(num(c.args[0])));
    },
    doc: {
      rule: 'Running; multiplier ≥ 1',
      errors: 'VM_BAD_POWER_STATE; INVALID_VALUE ["multiplier", value]',
      effect: 'none: QEMU guests have no shadow page-table pool to resize (xapi does not record it either)',
    },
  },
  // ---- VM vCPUs
  'VM.set_VCPUs_max': {
    op: 'changing_VCPUs',
    check: (c) => {
      const v = num(c.args[0]);
      if (v < 1 || v < num(c.row.VCPUs_at_startup)) throw invalidValue(VCPU_ORDER, String(v));
      if (v > MAX_VCPUS)
        throw new XenApiError('VALUE_NOT_SUPPORTED', [
          'VCPUs_max',
          String(v),
          `Berth starts guests with at most ${MAX_VCPUS} vCPUs`,
        ]);
    },
    doc: {
      rule: `Halted; 0 < VCPUs_at_startup ≤ value ≤ ${MAX_VCPUS}; not dom0`,
      errors: `VM_BAD_POWER_STATE; OPERATION_NOT_ALLOWED; INVALID_VALUE ["${VCPU_ORDER}", value]; VALUE_NOT_SUPPORTED ["VCPUs_max", value, reason]`,
    },
  },
  'VM.set_VCPUs_at_startup': {
    check: (c) => {
      if (isDom0(c.row))
        throw new XenApiError('OPERATION_NOT_ALLOWED', ['set_VCPUs_at_startup is not allowed on dom0']);
      const v = num(c.args[0]);
      if (v < 1 || v > num(c.row.VCPUs_max)) throw invalidValue(VCPU_ORDER, String(v));
    },
    doc: {
      rule: 'any power state (takes effect at next start); 0 < value ≤ VCPUs_max; not dom0',
      errors: `OPERATION_NOT_ALLOWED; INVALID_VALUE ["${VCPU_ORDER}", value]`,
    },
  },
  'VM.set_VCPUs_number_live': {
    op: 'changing_VCPUs_live',
    propose: (_row, [n]) => ({ VCPUs_at_startup: num(n) }),
    check: (c) => {
      const n = num(c.args[0]);
      if (n <= 0 || n > num(c.row.VCPUs_max))
        throw invalidValue('VCPU values must satisfy: 0 < VCPUs ≤ VCPUs_max', String(n));
    },
    effects: ['vcpus_live'],
    doc: {
      rule: 'Running; 0 < nvcpu ≤ VCPUs_max',
      errors:
        'VM_BAD_POWER_STATE; INVALID_VALUE ["VCPU values must satisfy: 0 < VCPUs ≤ VCPUs_max", n]; NOT_IMPLEMENTED when the agent cannot hot-plug',
      effect: 'vCPUs hot-plugged by the agent; VCPUs_at_startup and VM_metrics.VCPUs_number := nvcpu',
    },
  },
  'VM.add_to_VCPUs_params_live': {
    op: 'changing_VCPUs_live',
    check: () => {
      throw new XenApiError('NOT_IMPLEMENTED', ['add_to_VCPUs_params_live']);
    },
    doc: {
      rule: 'Running; then refused, as xapi',
      errors: 'VM_BAD_POWER_STATE; NOT_IMPLEMENTED ["add_to_VCPUs_params_live"]',
    },
  },
  // ---- other VM fields
  'VM.set_start_delay': {
    check: (c) => nonNegative('start_delay', num(c.args[0])),
    doc: { rule: 'value ≥ 0', errors: 'INVALID_VALUE ["start_delay must be non-negative", value]' },
  },
  'VM.set_shutdown_delay': {
    check: (c) => nonNegative('shutdown_delay', num(c.args[0])),
    doc: { rule: 'value ≥ 0', errors: 'INVALID_VALUE ["shutdown_delay must be non-negative", value]' },
  },
  'VM.set_order': {
    check: (c) => nonNegative('order', num(c.args[0])),
    doc: { rule: 'value ≥ 0', errors: 'INVALID_VALUE ["order must be non-negative", value]' },
  },
  'VM.set_ha_restart_priority': {
    propose: (row, [v]) => ({
      ha_restart_priority: str(v),
      ...(row.power_state === 'Running' ? { ha_always_run: v === 'restart' } : {}),
    }),
    check: (c) => {
      if (!HA_RESTART_PRIORITIES.includes(str(c.args[0])))
        throw invalidValue('ha_restart_priority', str(c.args[0]));
    },
    effects: ['allowed_operations'],
    doc: {
      rule: 'value ∈ {"restart", "best-effort", ""}',
      errors: 'INVALID_VALUE ["ha_restart_priority", value]',
      effect: 'Running VM: ha_always_run := (value = "restart"); allowed_operations',
    },
  },
  'VM.set_ha_always_run': {
    propose: (row, [v]) => ({
      ha_restart_priority: v ? 'restart' : '',
      ...(row.power_state === 'Running' ? { ha_always_run: Boolean(v) } : {}),
    }),
    effects: ['allowed_operations'],
    doc: {
      rule: 'deprecated: as set_ha_restart_priority(value ? "restart" : "")',
      errors: NO_CHECK,
      effect: 'as set_ha_restart_priority',
    },
  },
  'VM.set_actions_after_crash': {
    doc: { rule: `${NO_CHECK} (xapi validates at start)`, errors: '-' },
  },
  'VM.set_domain_type': {
    propose: (_row, [v]) => ({ domain_type: str(v), HVM_boot_policy: v === 'hvm' ? 'BIOS order' : '' }),
    check: (c) => {
      if (c.args[0] === 'unspecified') throw invalidValue('domain_type', 'unspecified');
    },
    doc: {
      rule: 'value ≠ unspecified',
      errors: 'INVALID_VALUE ["domain_type", "unspecified"]',
      effect: 'HVM_boot_policy := "BIOS order" for hvm, else ""',
    },
  },
  'VM.set_HVM_boot_policy': {
    propose: (_row, [v]) => ({ HVM_boot_policy: str(v), domain_type: v === '' ? 'pv' : 'hvm' }),
    doc: { rule: NO_CHECK, errors: '-', effect: 'domain_type := pv for "", else hvm' },
  },
  'VM.set_has_vendor_device': {
    check: (c) => powerStateIs(c, 'Halted'),
    doc: { rule: 'Halted', errors: 'VM_BAD_POWER_STATE [vm, "halted", actual]' },
  },
  'VM.set_bios_strings': {
    propose: (_row, [v]) => ({ bios_strings: mergedBiosStrings(v as Record<string, string>) }),
    check: (c) => {
      if (Object.keys((c.row.bios_strings as object) ?? {}).length)
        throw new XenApiError('VM_BIOS_STRINGS_ALREADY_SET', []);
      biosStrings(c.args[0] as Record<string, string>);
    },
    doc: {
      rule: 'only once; settable keys only; values 1..512 printable ASCII',
      errors: 'VM_BIOS_STRINGS_ALREADY_SET []; INVALID_VALUE [key, reason]',
      effect: 'the generic BIOS strings with the given ones replacing theirs',
    },
  },
  'VM.set_suspend_VDI': {
    check: (c) => {
      powerStateIs(c, 'Suspended');
      const vdi = str(c.args[0]);
      if (!c.db.has('VDI', vdi)) throw new XenApiError('HANDLE_INVALID', ['VDI', vdi]);
      if (c.db.get('VDI', vdi)?.type === 'cbt_metadata')
        throw new XenApiError('VDI_INCOMPATIBLE_TYPE', [c.ref, 'cbt_metadata']);
      const current = str(c.row.suspend_VDI);
      if (vdi !== current) {
        const uuid = (r: string) => str(c.db.get('VDI', r)?.uuid ?? r);
        throw new XenApiError('SUSPEND_VDI_REPLACEMENT_IS_NOT_IDENTICAL', [uuid(current), uuid(vdi)]);
      }
    },
    doc: {
      rule: 'Suspended; the VDI must be the current one (Berth does not compare checksums)',
      errors:
        'VM_BAD_POWER_STATE; VDI_INCOMPATIBLE_TYPE [vm, "cbt_metadata"]; SUSPEND_VDI_REPLACEMENT_IS_NOT_IDENTICAL [old, new]',
    },
  },
  'VM.set_appliance': {
    check: (c) => notPlainVm(c, 'Control domains, templates and snapshots cannot be assigned to appliances.'),
    effects: ['allowed_operations'],
    doc: {
      rule: 'not a control domain, template or snapshot',
      errors: 'OPERATION_NOT_ALLOWED [reason]',
      effect: 'allowed_operations',
    },
  },
  'VM.set_groups': {
    check: (c) => {
      notPlainVm(c, 'Control domains, templates, and snapshots cannot be added to VM groups.');
      if ((c.args[0] as unknown[]).length > 1) throw new XenApiError('TOO_MANY_GROUPS', []);
    },
    doc: {
      rule: 'not a control domain, template or snapshot; at most one group',
      errors: 'OPERATION_NOT_ALLOWED [reason]; TOO_MANY_GROUPS []',
    },
  },
  'VM.set_snapshot_schedule': {
    check: (c) => {
      const v = str(c.args[0]);
      if (v === NULL_REF || v === '') return;
      if (!c.db.has('VMSS', v)) throw new XenApiError('INVALID_VALUE', [v]);
      if (c.row.is_control_domain) throw new XenApiError('INVALID_VALUE', [v]);
      if (c.row.is_a_template) throw new XenApiError('VM_IS_TEMPLATE', [c.ref]);
    },
    effects: ['allowed_operations'],
    doc: {
      rule: 'an existing VMSS or null; not a control domain or template',
      errors: 'INVALID_VALUE [value]; VM_IS_TEMPLATE [vm]',
      effect: 'allowed_operations',
    },
  },
  'VM.set_NVRAM': { op: 'changing_NVRAM', doc: { rule: 'Halted', errors: 'VM_BAD_POWER_STATE' } },
  'VM.add_to_NVRAM': {
    op: 'changing_NVRAM',
    doc: { rule: 'Halted', errors: 'VM_BAD_POWER_STATE; MAP_DUPLICATE_KEY' },
  },
  'VM.remove_from_NVRAM': { op: 'changing_NVRAM', doc: { rule: 'Halted', errors: 'VM_BAD_POWER_STATE' } },
  'VM.set_is_a_template': {
    op: ([v]) => (v ? 'make_into_template' : undefined),
    propose: (_row, [v]) =>
      v
        ? { is_a_template: true, ha_always_run: false }
        : { is_a_template: false, is_default_template: false },
    effects: ['allowed_operations'],
    doc: {
      rule: 'true: the make_into_template operation (Halted, not blocked, nothing in progress)',
      errors: 'OPERATION_BLOCKED; VM_BAD_POWER_STATE; OTHER_OPERATION_IN_PROGRESS',
      effect: 'true: ha_always_run := false; false: is_default_template := false; allowed_operations',
    },
  },
  'VM.set_blocked_operations': {
    effects: ['allowed_operations'],
    doc: { rule: NO_CHECK, errors: '-', effect: 'allowed_operations' },
  },
  'VM.add_to_blocked_operations': {
    effects: ['allowed_operations'],
    doc: { rule: NO_CHECK, errors: 'MAP_DUPLICATE_KEY', effect: 'allowed_operations' },
  },
  'VM.remove_from_blocked_operations': {
    effects: ['allowed_operations'],
    doc: { rule: NO_CHECK, errors: '-', effect: 'allowed_operations' },
  },
  'VM.set_other_config': {
    doc: { rule: 'protected keys need their role', errors: 'RBAC_PERMISSION_DENIED' },
  },
  'VM.add_to_other_config': {
    doc: { rule: 'protected keys need their role', errors: 'RBAC_PERMISSION_DENIED; MAP_DUPLICATE_KEY' },
  },
  'VM.remove_from_other_config': {
    doc: { rule: 'protected keys need their role', errors: 'RBAC_PERMISSION_DENIED' },
  },
  'VM.set_platform': { doc: { rule: NO_CHECK, errors: '-', effect: 'read at next start' } },
  'VM.add_to_platform': {
    doc: { rule: NO_CHECK, errors: 'MAP_DUPLICATE_KEY', effect: 'read at next start' },
  },
  'VM.remove_from_platform': { doc: { rule: NO_CHECK, errors: '-', effect: 'read at next start' } },

  // ---- VIF (xapi_vif.ml): addresses and VLAN tags are validated; Berth applies no locking filter
  'VIF.set_locking_mode': {
    doc: { rule: NO_CHECK, errors: '-', effect: 'recorded; Berth does not filter guest traffic' },
  },
  'VIF.set_ipv4_allowed': {
    propose: (_row, [v]) => ({ ipv4_allowed: uniq(v as unknown[]) }),
    check: (c) => {
      for (const a of c.args[0] as string[]) ipAddrOrCidr(4, 'ipv4_allowed', a);
    },
    doc: {
      rule: 'each an IPv4 address or CIDR; duplicates dropped',
      errors: 'INVALID_IP_ADDRESS_SPECIFIED ["ipv4_allowed"]',
    },
  },
  'VIF.add_ipv4_allowed': {
    check: (c) => ipAddrOrCidr(4, 'ipv4_allowed', str(c.args[0])),
    doc: { rule: 'an IPv4 address or CIDR', errors: 'INVALID_IP_ADDRESS_SPECIFIED ["ipv4_allowed"]' },
  },
  'VIF.remove_ipv4_allowed': { doc: { rule: NO_CHECK, errors: '-' } },
  'VIF.set_ipv6_allowed': {
    propose: (_row, [v]) => ({ ipv6_allowed: uniq(v as unknown[]) }),
    check: (c) => {
      for (const a of c.args[0] as string[]) ipAddrOrCidr(6, 'ipv6_allowed', a);
    },
    doc: {
      rule: 'each an IPv6 address or CIDR; duplicates dropped',
      errors: 'INVALID_IP_ADDRESS_SPECIFIED ["ipv6_allowed"]',
    },
  },
  'VIF.add_ipv6_allowed': {
    check: (c) => ipAddrOrCidr(6, 'ipv6_allowed', str(c.args[0])),
    doc: { rule: 'an IPv6 address or CIDR', errors: 'INVALID_IP_ADDRESS_SPECIFIED ["ipv6_allowed"]' },
  },
  'VIF.remove_ipv6_allowed': { doc: { rule: NO_CHECK, errors: '-' } },
  'VIF.set_trunks': {
    propose: (_row, [v]) => ({ trunks: uniq(v as unknown[]) }),
    check: (c) => {
      for (const t of c.args[0] as number[]) vlanTag(t);
    },
    doc: { rule: 'each tag 0..4094; duplicates dropped', errors: 'VLAN_TAG_INVALID [tag]' },
  },
  'VIF.add_trunks': {
    check: (c) => vlanTag(num(c.args[0])),
    doc: { rule: 'tag 0..4094', errors: 'VLAN_TAG_INVALID [tag]' },
  },
  'VIF.remove_trunks': { doc: { rule: NO_CHECK, errors: '-' } },

  // ---- network (xapi_network.ml)
  'network.set_default_locking_mode': {
    check: (c) => {
      for (const vif of (c.row.VIFs as string[]) ?? [])
        if (c.db.get('VIF', vif)?.currently_attached) throw new XenApiError('VIF_IN_USE', [c.ref, vif]);
    },
    doc: { rule: 'no VIF on the network is attached', errors: 'VIF_IN_USE [network, vif]' },
  },
  'network.add_purpose': {
    check: (c) => {
      if (c.row.managed === false) throw new XenApiError('NETWORK_UNMANAGED', [c.ref]);
      const value = str(c.args[0]);
      if (((c.row.purpose as string[]) ?? []).includes(value)) return;
      const bad = value === 'nbd' ? 'insecure_nbd' : value === 'insecure_nbd' ? 'nbd' : undefined;
      if (!bad) return;
      for (const net of c.db.all('network').values())
        if (((net.purpose as string[]) ?? []).includes(bad))
          throw new XenApiError('NETWORK_INCOMPATIBLE_PURPOSES', [value, bad]);
    },
    doc: {
      rule: 'a managed network; nbd and insecure_nbd never both in the pool',
      errors: 'NETWORK_UNMANAGED [network]; NETWORK_INCOMPATIBLE_PURPOSES [new, existing]',
    },
  },
  'network.remove_purpose': { doc: { rule: NO_CHECK, errors: '-' } },

  // ---- PIF and Bond (xapi_pif.ml, xapi_bond.ml)
  'PIF.set_primary_address_type': {
    check: (c) => {
      if (c.row.management) throw new XenApiError('PIF_IS_MANAGEMENT_IFACE', [c.ref]);
    },
    doc: { rule: 'not the management interface', errors: 'PIF_IS_MANAGEMENT_IFACE [pif]' },
  },
  'PIF.set_disallow_unplug': { doc: { rule: `${NO_CHECK} (no clustering in Berth)`, errors: '-' } },
  'PIF.set_property': {
    propose: (row, [name, value]) => ({
      properties: { ...((row.properties as Record<string, string>) ?? {}), [str(name)]: str(value) },
    }),
    check: (c) => {
      kvPair('properties', PIF_PROPERTY_REQUIREMENTS, str(c.args[0]), str(c.args[1]));
      const hasProperties = Boolean(c.row.physical) || ((c.row.bond_master_of as string[]) ?? []).length > 0;
      const slave = c.row.bond_slave_of !== undefined && c.row.bond_slave_of !== NULL_REF;
      if (!hasProperties || slave) throw new XenApiError('CANNOT_CHANGE_PIF_PROPERTIES', [c.ref]);
    },
    effects: ['bond_slave_properties'],
    doc: {
      rule: 'gro = on|off; physical PIFs and bond masters only, not bond slaves',
      errors: 'INVALID_VALUE ["properties", "name = value"]; CANNOT_CHANGE_PIF_PROPERTIES [pif]',
      effect: "a bond master's properties copied to its slaves (applied at next plug)",
    },
  },
  'Bond.set_mode': {
    propose: (row, [mode]) => {
      const reqs = bondRequirements(str(mode));
      const kept = Object.entries((row.properties as Record<string, string>) ?? {}).filter(([k, v]) =>
        reqs.some((r) => r.key === k && r.valid(v)),
      );
      return { mode: str(mode), properties: withDefaults(reqs, Object.fromEntries(kept)) };
    },
    doc: {
      rule: NO_CHECK,
      errors: '-',
      effect: "properties the new mode does not accept dropped, the mode's defaults added",
    },
  },
  'Bond.set_property': {
    propose: (row, [name, value]) => ({
      properties: { ...((row.properties as Record<string, string>) ?? {}), [str(name)]: str(value) },
    }),
    check: (c) => kvPair('properties', bondRequirements(str(c.row.mode)), str(c.args[0]), str(c.args[1])),
    doc: {
      rule: "a property of the bond's mode with a valid value (lacp only)",
      errors: 'INVALID_VALUE ["properties", "name = value"]',
    },
  },

  // ---- host (xapi_host.ml): values recorded; Berth does not change the machine's own settings
  'host.set_console_idle_timeout': {
    check: (c) => {
      if (num(c.args[0]) < 0) throw invalidValue('console_timeout', str(c.args[0]));
    },
    doc: { rule: 'value ≥ 0', errors: 'INVALID_VALUE ["console_timeout", value]' },
  },
  'host.set_ssh_enabled_timeout': {
    check: (c) => {
      const v = num(c.args[0]);
      if (v < 0 || v > 172800) throw invalidValue('ssh_enabled_timeout', str(v));
    },
    doc: { rule: '0 ≤ value ≤ 172800 (two days)', errors: 'INVALID_VALUE ["ssh_enabled_timeout", value]' },
  },
  'host.set_max_cstate': {
    check: (c) => maxCstate(str(c.args[0])),
    doc: {
      rule: '"", "N" or "N,M" with N ≤ 1',
      errors: 'INVALID_VALUE ["max_cstate", value]; VALUE_NOT_SUPPORTED ["max_cstate", value, reason]',
    },
  },
  'host.set_timezone': {
    check: (c) => timezone(str(c.args[0])),
    doc: { rule: 'an IANA time zone', errors: 'INVALID_VALUE ["timezone", value]' },
  },
  'host.set_ntp_mode': {
    check: (c) => {
      const mode = str(c.args[0]);
      if (mode === c.row.ntp_mode) return;
      if (mode === 'Custom' && !((c.row.ntp_custom_servers as string[]) ?? []).length)
        throw new XenApiError('INVALID_NTP_CONFIG', [
          "Can't set ntp_mode to Custom when ntp_custom_servers is empty",
        ]);
      if (mode === 'Factory')
        throw new XenApiError('INVALID_NTP_CONFIG', [
          "Can't set ntp_mode to Factory when factory ntp servers is empty",
        ]);
    },
    doc: {
      rule: 'Custom needs custom servers; Factory needs factory servers (Berth has none)',
      errors: 'INVALID_NTP_CONFIG [reason]',
    },
  },
  'host.set_ntp_custom_servers': {
    check: (c) => {
      if (c.row.ntp_mode === 'Custom' && !(c.args[0] as string[]).length)
        throw new XenApiError('INVALID_NTP_CONFIG', [
          "Can't set ntp_custom_servers empty when ntp_mode is Custom",
        ]);
    },
    doc: { rule: 'not empty while ntp_mode is Custom', errors: 'INVALID_NTP_CONFIG [reason]' },
  },
  'host.set_iscsi_iqn': {
    propose: (row, [v]) => ({
      iscsi_iqn: str(v),
      other_config: { ...((row.other_config as object) ?? {}), iscsi_iqn: str(v) },
    }),
    check: (c) => {
      if (c.args[0] === '') throw invalidValue('value', '');
    },
    doc: {
      rule: 'not empty',
      errors: 'INVALID_VALUE ["value", ""]',
      effect: 'other_config:iscsi_iqn kept equal',
    },
  },
  'host.set_multipathing': {
    propose: (row, [v]) => ({
      multipathing: Boolean(v),
      other_config: { ...((row.other_config as object) ?? {}), multipathing: String(Boolean(v)) },
    }),
    doc: { rule: NO_CHECK, errors: '-', effect: 'other_config:multipathing kept equal' },
  },
  'host.set_power_on_mode': {
    propose: (_row, [mode, config]) => ({ power_on_mode: str(mode), power_on_config: config }),
    doc: { rule: NO_CHECK, errors: '-', effect: 'power_on_config written with the mode' },
  },
  'host.set_ssl_legacy': {
    propose: () => ({}),
    check: (c) => {
      if (c.args[0] === true)
        throw new XenApiError('VALUE_NOT_SUPPORTED', [
          'value',
          'true',
          'Legacy SSL support has been removed',
        ]);
    },
    doc: {
      rule: 'false only (nothing to do)',
      errors: 'VALUE_NOT_SUPPORTED ["value", "true", "Legacy SSL support has been removed"]',
    },
  },
  'host.set_uefi_certificates': {
    check: () => {
      throw new XenApiError('OPERATION_NOT_ALLOWED', [
        'To set UEFI certificates use: `Pool.set_custom_uefi_certificates`',
      ]);
    },
    doc: { rule: 'always refused, as xapi', errors: 'OPERATION_NOT_ALLOWED [reason]' },
  },
  'host.set_https_only': {
    doc: { rule: NO_CHECK, errors: '-', effect: 'recorded; Berth manages no firewall' },
  },
  'host.set_ssh_auto_mode': {
    doc: { rule: NO_CHECK, errors: '-', effect: 'recorded; Berth does not manage sshd' },
  },
  'host.set_numa_affinity_policy': { doc: { rule: NO_CHECK, errors: '-', effect: 'recorded' } },

  // ---- pool (xapi_pool.ml)
  'pool.set_ext_auth_cache_expiry': {
    check: (c) => {
      if (num(c.args[0]) <= 0) throw invalidValue('expiry', str(c.args[0]));
    },
    doc: { rule: 'value > 0', errors: 'INVALID_VALUE ["expiry", value]' },
  },
  'pool.set_ext_auth_cache_size': {
    check: (c) => {
      if (num(c.args[0]) < 0) throw invalidValue('size', str(c.args[0]));
    },
    doc: { rule: 'value ≥ 0', errors: 'INVALID_VALUE ["size", value]' },
  },
  'pool.set_ha_host_failures_to_tolerate': {
    check: (c) => {
      if (num(c.args[0]) < 0) throw invalidValue('ha_host_failures_to_tolerate', str(c.args[0]));
    },
    doc: { rule: 'value ≥ 0', errors: 'INVALID_VALUE ["ha_host_failures_to_tolerate", value]' },
  },
  'pool.set_uefi_certificates': {
    check: () => {
      throw new XenApiError('OPERATION_NOT_ALLOWED', [
        'Setting UEFI certificates is deprecated, please use `set_custom_uefi_certificates`',
      ]);
    },
    doc: { rule: 'always refused, as xapi', errors: 'OPERATION_NOT_ALLOWED [reason]' },
  },
  'pool.set_custom_uefi_certificates': {
    check: () => {
      throw new XenApiError('OPERATION_NOT_ALLOWED', [
        'Setting UEFI certificates is not possible when allow_custom_uefi_certs is false',
      ]);
    },
    doc: { rule: 'refused: allow_custom_uefi_certs is false', errors: 'OPERATION_NOT_ALLOWED [reason]' },
  },
  'pool.set_vswitch_controller': {
    check: () => {
      throw new XenApiError('OPERATION_NOT_ALLOWED', ['host not configured for vswitch operation']);
    },
    doc: {
      rule: 'refused: Berth uses Linux bridges, not Open vSwitch',
      errors: 'OPERATION_NOT_ALLOWED ["host not configured for vswitch operation"]',
    },
  },
  'pool.set_igmp_snooping_enabled': {
    check: () => {
      throw new XenApiError('OPENVSWITCH_NOT_ACTIVE', []);
    },
    doc: { rule: 'refused: needs Open vSwitch', errors: 'OPENVSWITCH_NOT_ACTIVE []' },
  },
  'pool.set_update_sync_enabled': {
    check: (c) => {
      if (c.args[0] === true && !((c.row.repositories as string[]) ?? []).length)
        throw new XenApiError('NO_REPOSITORIES_CONFIGURED', []);
    },
    doc: { rule: 'true needs a repository', errors: 'NO_REPOSITORIES_CONFIGURED []' },
  },
  'pool.set_telemetry_next_collection': {
    check: (c) => {
      const days = { daily: 2, weekly: 14, monthly: 62 }[str(c.row.telemetry_frequency)] ?? 62;
      const at = parseXapiTime(str(c.args[0]));
      if (at > Date.now() + days * 86_400_000)
        throw new XenApiError('TELEMETRY_NEXT_COLLECTION_TOO_LATE', [
          new Date(at).toISOString().replace('.000Z', 'Z'),
        ]);
    },
    doc: {
      rule: 'at most 2/14/62 days ahead (daily/weekly/monthly telemetry)',
      errors: 'TELEMETRY_NEXT_COLLECTION_TOO_LATE [time]',
    },
  },
  'pool.add_to_guest_agent_config': {
    check: (c) =>
      kvPair('guest_agent_config', GUEST_AGENT_CONFIG_REQUIREMENTS, str(c.args[0]), str(c.args[1])),
    doc: {
      rule: 'auto_update_enabled = true|false; auto_update_url = an http(s) URL',
      errors: 'INVALID_VALUE ["guest_agent_config", "key = value"]; MAP_DUPLICATE_KEY',
    },
  },
  'pool.remove_from_guest_agent_config': { doc: { rule: NO_CHECK, errors: '-' } },

  // ---- VM snapshot schedules (xapi_vmss.ml)
  'VMSS.set_schedule': {
    propose: (row, [v]) => ({
      schedule: vmssSchedule(v as Record<string, string>, (row.schedule as Record<string, string>) ?? {}),
    }),
    doc: {
      rule: 'merged over the stored schedule; keys min (0/15/30/45), hour (0..23), days (Monday..Sunday, comma-separated, each once)',
      errors: 'INVALID_VALUE ["schedule:<key>", value]',
      effect: 'values written in canonical spelling; stored keys not given are kept, as xapi',
    },
  },
  'VMSS.add_to_schedule': {
    check: (c) =>
      vmssSchedule({ [str(c.args[0])]: str(c.args[1]) }, (c.row.schedule as Record<string, string>) ?? {}),
    doc: {
      rule: 'as set_schedule for the one key',
      errors: 'INVALID_VALUE ["schedule:<key>", value]; MAP_DUPLICATE_KEY',
    },
  },
  'VMSS.set_frequency': {
    propose: (row, [f]) => ({
      frequency: str(f),
      schedule: vmssScheduleFor(str(f), (row.schedule as Record<string, string>) ?? {}),
    }),
    doc: {
      rule: "the schedule's values valid for the new frequency",
      errors: 'INVALID_VALUE ["schedule:<key>", value]',
      effect:
        "the schedule gets exactly the frequency's keys (hourly: min; daily: hour, min; weekly: hour, min, days), missing ones from defaults",
    },
  },
  'VMSS.set_retained_snapshots': {
    check: (c) => {
      const v = num(c.args[0]);
      if (v < 1 || v > 10) throw invalidValue('retained_snapshots', String(v));
    },
    doc: { rule: '1 ≤ value ≤ 10', errors: 'INVALID_VALUE ["retained_snapshots", value]' },
  },

  // ---- storage (xapi_sr.ml, xapi_vbd.ml)
  'SR.set_shared': {
    check: (c) => {
      if (c.args[0] === false) {
        const pbds = (c.row.PBDs as string[]) ?? [];
        if (pbds.length > 1) throw new XenApiError('SR_HAS_MULTIPLE_PBDS', pbds);
      }
    },
    doc: {
      rule: 'false: at most one PBD; true: not a local driver (Berth)',
      errors: 'SR_HAS_MULTIPLE_PBDS [pbd...]; SR_OPERATION_NOT_SUPPORTED [sr]',
    },
  },
  'VDI.set_on_boot': {
    check: vdiNotOnRunningVm,
    doc: { rule: 'every VM using the VDI is Halted', errors: 'VM_BAD_POWER_STATE [vm, "halted", actual]' },
  },
  'VDI.set_allow_caching': {
    check: vdiNotOnRunningVm,
    doc: { rule: 'every VM using the VDI is Halted', errors: 'VM_BAD_POWER_STATE [vm, "halted", actual]' },
  },
  'VBD.set_mode': {
    check: (c) => {
      const vm = str(c.row.VM);
      const vmRow = c.db.get('VM', vm);
      if (vmRow) powerStateIs(c, 'Halted', vm, vmRow);
    },
    doc: {
      rule: 'the VM is Halted; CDs stay RO; RW needs a writable VDI',
      errors: 'VM_BAD_POWER_STATE; VBD_CDS_MUST_BE_READONLY []; VDI_READONLY [vdi]',
    },
  },

  // ---- RBAC and tasks (xapi_subject.ml, xapi_task.ml)
  'subject.add_to_roles': {
    propose: (row, [role]) => ({ roles: uniq([...((row.roles as string[]) ?? []), role]) }),
    check: (c) => {
      const role = str(c.args[0]);
      const r = c.db.get('role', role);
      if (!r || r.is_internal) throw new XenApiError('ROLE_NOT_FOUND', []);
      if (((c.row.roles as string[]) ?? []).includes(role)) throw new XenApiError('ROLE_ALREADY_EXISTS', []);
    },
    doc: {
      rule: 'one of the roles (not a permission), not already held',
      errors: 'ROLE_NOT_FOUND []; ROLE_ALREADY_EXISTS []',
    },
  },
  'subject.remove_from_roles': {
    propose: (row, [role]) => ({ roles: ((row.roles as string[]) ?? []).filter((r) => r !== role) }),
    check: (c) => {
      if (!((c.row.roles as string[]) ?? []).includes(str(c.args[0])))
        throw new XenApiError('ROLE_NOT_FOUND', []);
    },
    doc: { rule: 'a role the subject holds', errors: 'ROLE_NOT_FOUND []' },
  },
  'task.add_to_other_config': {
    guards: ['task_owner'],
    doc: {
      rule: "the task's creator, or a holder of task.destroy/any",
      errors: 'RBAC_PERMISSION_DENIED; MAP_DUPLICATE_KEY',
    },
  },
  'task.remove_from_other_config': {
    guards: ['task_owner'],
    doc: { rule: "the task's creator, or a holder of task.destroy/any", errors: 'RBAC_PERMISSION_DENIED' },
  },
};

/** The docs/setters.md table row of a rule. */
export function ruleDocRow(wire: string, rule: SetterRule): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return `| \`${wire}\` | ${cell(rule.doc.rule)} | ${cell(rule.doc.errors)} | ${cell(rule.doc.effect ?? '-')} |`;
}

/** The rule of a message, if xapi implements it by hand. */
export const setterRule = (wire: string): SetterRule | undefined => SETTER_RULES[wire];
