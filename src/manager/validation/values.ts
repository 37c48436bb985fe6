// Value checks xapi's hand-written setters make, as pure functions that throw xapi's error
// (each cites the xapi function it follows). Used by the setter rule table (setter-rules.ts).
import { isIP } from 'node:net';
import { XenApiError } from '../../shared/errors.js';

export const invalidValue = (field: string, value: string) =>
  new XenApiError('INVALID_VALUE', [field, value]);

/** OCaml's string_of_float, as xapi prints floats inside errors (1. / 0.5 / -2.). */
export function ocamlFloat(v: number): string {
  if (Number.isInteger(v)) return `${v}.`;
  return String(v);
}

/** xapi_vm.set_start_delay and friends: "<field> must be non-negative". */
export function nonNegative(what: string, v: number): void {
  if (v < 0) throw invalidValue(`${what} must be non-negative`, String(v));
}

/** xapi_vlan.assert_valid_VLAN_tag → VLAN_TAG_INVALID [tag]. */
export function vlanTag(tag: number): void {
  if (!Number.isInteger(tag) || tag < 0 || tag > 4094)
    throw new XenApiError('VLAN_TAG_INVALID', [String(tag)]);
}

/** An address with an optional /prefix of the right family (Ipaddr.Prefix.of_string). */
function isCidr(kind: 4 | 6, s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > (kind === 4 ? 32 : 128)) return false;
  return isIP(addr) === kind;
}

/**
 * Helpers.assert_is_valid_ip_addr: an address or a CIDR of the family, else
 * INVALID_IP_ADDRESS_SPECIFIED [field].
 */
export function ipAddrOrCidr(kind: 4 | 6, field: string, s: string): void {
  if (isIP(s) !== kind && !isCidr(kind, s)) throw new XenApiError('INVALID_IP_ADDRESS_SPECIFIED', [field]);
}

/** Helpers.assert_is_valid_ip ipv4: INVALID_IP_ADDRESS_SPECIFIED [field]. */
export function ipAddr(kind: 4 | 6, field: string, s: string): void {
  if (isIP(s) !== kind) throw new XenApiError('INVALID_IP_ADDRESS_SPECIFIED', [field]);
}

/** One key's requirement for Map_check.validate_kvpair. */
export interface KeyRequirement {
  key: string;
  valid: (v: string) => boolean;
  default?: string;
}

/** Map_check.validate_kvpair: INVALID_VALUE [field, "<key> = <value>"] for an unknown key or value. */
export function kvPair(field: string, reqs: KeyRequirement[], key: string, value: string): void {
  const req = reqs.find((r) => r.key === key);
  if (!req?.valid(value)) throw invalidValue(field, `${key} = ${value}`);
}

/** Map_check.add_defaults: requirements with a default that the map lacks get it. */
export function withDefaults(reqs: KeyRequirement[], map: Record<string, string>): Record<string, string> {
  const out = { ...map };
  for (const r of reqs) if (r.default !== undefined && !(r.key in out)) out[r.key] = r.default;
  return out;
}

const oneOf =
  (...xs: string[]) =>
  (v: string) =>
    xs.includes(v);

/** Xapi_bond.requirements_of_mode: only lacp has properties. */
export function bondRequirements(mode: string): KeyRequirement[] {
  if (mode !== 'lacp') return [];
  return [
    { key: 'hashing_algorithm', valid: oneOf('src_mac', 'tcpudp_ports'), default: 'tcpudp_ports' },
    { key: 'lacp-time', valid: oneOf('fast', 'slow'), default: 'slow' },
    { key: 'lacp-aggregation-key', valid: (v) => /^-?\d+$/.test(v) },
    { key: 'lacp-fallback-ab', valid: oneOf('true', 'false'), default: 'true' },
  ];
}

/** Xapi_pif.property_names_and_values. */
export const PIF_PROPERTY_REQUIREMENTS: KeyRequirement[] = [{ key: 'gro', valid: oneOf('on', 'off') }];

/** Xapi_pool.guest_agent_config_requirements. */
export const GUEST_AGENT_CONFIG_REQUIREMENTS: KeyRequirement[] = [
  { key: 'auto_update_enabled', valid: oneOf('true', 'false') },
  {
    key: 'auto_update_url',
    valid: (v) => /^https?:/i.test(v),
  },
];

/** Constants.settable_vm_bios_string_keys. */
export const SETTABLE_BIOS_KEYS = [
  'bios-vendor',
  'bios-version',
  'system-manufacturer',
  'system-product-name',
  'system-version',
  'system-serial-number',
  'baseboard-manufacturer',
  'baseboard-product-name',
  'baseboard-version',
  'baseboard-serial-number',
  'baseboard-asset-tag',
  'baseboard-location-in-chassis',
  'enclosure-asset-tag',
];

/** Constants.generic_bios_strings (with the standard type-11 strings), in xapi's order. */
export const GENERIC_BIOS_STRINGS: [string, string][] = [
  ['bios-vendor', 'Xen'],
  ['bios-version', ''],
  ['system-manufacturer', 'Xen'],
  ['system-product-name', 'HVM domU'],
  ['system-version', ''],
  ['system-serial-number', ''],
  ['baseboard-manufacturer', ''],
  ['baseboard-product-name', ''],
  ['baseboard-version', ''],
  ['baseboard-serial-number', ''],
  ['baseboard-asset-tag', ''],
  ['baseboard-location-in-chassis', ''],
  ['enclosure-asset-tag', ''],
  ['hp-rombios', ''],
  ['oem-1', 'Xen'],
  ['oem-2', 'MS_VM_CERT/SHA1/bdbeb6e0a816d43fa6d3fe8aaef04c2bad9d3e3d'],
];

/** Xapi_vm_helpers.assert_valid_bios_strings. */
export function biosStrings(value: Record<string, string>): void {
  for (const [k, v] of Object.entries(value)) {
    if (!SETTABLE_BIOS_KEYS.includes(k)) throw invalidValue(k, 'Unknown key');
    if (v.length === 0) throw invalidValue(k, 'Value provided is empty');
    if (v.length > 512) throw invalidValue(k, `${v} has length more than 512 characters`);
    for (const ch of v) {
      const c = ch.charCodeAt(0);
      if (c < 32 || c >= 127) throw invalidValue(k, `${v} has non-printable ASCII characters`);
    }
  }
}

/** The generic BIOS strings with the given ones replacing theirs (xapi_vm.set_bios_strings). */
export function mergedBiosStrings(value: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    GENERIC_BIOS_STRINGS.map(([k, v]) => [k, Object.hasOwn(value, k) ? value[k] : v]),
  );
}

/** Xapi_host_max_cstate.of_string: "" (unlimited), "N" or "N,M"; only C0, C1 and unlimited. */
export function maxCstate(value: string): void {
  const m = /^(?:(\d+)(?:,(\d+))?)?$/.exec(value);
  if (!m) throw invalidValue('max_cstate', value);
  if (m[1] !== undefined && Number(m[1]) > 1) {
    throw new XenApiError('VALUE_NOT_SUPPORTED', [
      'max_cstate',
      value,
      'Only C0, C1 and unlimited are supported for max-cstate',
    ]);
  }
}

/** An IANA time zone name (what timedatectl set-timezone accepts); INVALID_VALUE ["timezone", v]. */
export function timezone(value: string): void {
  const known = value === 'UTC' || Intl.supportedValuesOf('timeZone').includes(value);
  if (!known) throw invalidValue('timezone', value);
}

/** Constants.ha_valid_restart_priorities. */
export const HA_RESTART_PRIORITIES = ['restart', 'best-effort', ''];

/** One key of a VMSS schedule: its check/canonical form and default (Xapi_vmss). */
interface ScheduleKey {
  key: string;
  canonical: (v: string) => string | undefined;
  default: string;
}

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const enumOf = (range: string[]) => (v: string) => range.find((r) => r.toLowerCase() === v.toLowerCase());
const MIN_KEY: ScheduleKey = { key: 'min', canonical: enumOf(['0', '15', '30', '45']), default: '0' };
const HOUR_KEY: ScheduleKey = {
  key: 'hour',
  canonical: (v) => (/^-?\d+$/.test(v) && Number(v) >= 0 && Number(v) <= 23 ? v : undefined),
  default: '0',
};
const DAYS_KEY: ScheduleKey = { key: 'days', canonical: () => undefined, default: 'Monday' };

/** Xapi_vmss.schedule_frequency_*_keys. */
const SCHEDULE_KEYS: Record<string, ScheduleKey[]> = {
  hourly: [MIN_KEY],
  daily: [HOUR_KEY, MIN_KEY],
  weekly: [HOUR_KEY, MIN_KEY, DAYS_KEY],
};

/** Map_check's EnumSet: comma-separated days, each once; INVALID_VALUE on the bad one. */
function scheduleValue(k: ScheduleKey, value: string): string {
  const err = (v: string) => invalidValue(`schedule:${k.key}`, v);
  if (k.key !== 'days') {
    const c = k.canonical(value);
    if (c === undefined) throw err(value);
    return c;
  }
  const out: string[] = [];
  for (const v of value.split(',')) {
    const c = enumOf(DAYS)(v);
    if (c === undefined) throw err(v);
    if (out.includes(c)) throw err(value);
    out.push(c);
  }
  return out.join(',');
}

/** Map_check.merge: the given entries over the stored ones. */
const merged = (value: Record<string, string>, db: Record<string, string>) => ({ ...db, ...value });

/**
 * VMSS.set_schedule / add_to_schedule (Map_check.assert_keys with every frequency's keys): each
 * key of the merged schedule must be a schedule key with a valid value; returns the merged map
 * with values in canonical spelling.
 */
export function vmssSchedule(
  value: Record<string, string>,
  db: Record<string, string>,
): Record<string, string> {
  const all = [MIN_KEY, HOUR_KEY, DAYS_KEY];
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(merged(value, db))) {
    const key = all.find((x) => x.key === k);
    if (!key) throw invalidValue(`schedule:${k}`, v);
    out[k] = scheduleValue(key, v);
  }
  return out;
}

/**
 * VMSS.set_frequency (Map_check.assert_all_keys): the schedule gets exactly the frequency's keys,
 * missing ones from their defaults, every value checked.
 */
export function vmssScheduleFor(frequency: string, schedule: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of SCHEDULE_KEYS[frequency] ?? []) out[k.key] = scheduleValue(k, schedule[k.key] ?? k.default);
  return out;
}
