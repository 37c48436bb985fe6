// Shared fixtures for the wire tests: a small record layout, and a way to run Python as an
// independent decoder/oracle.
import { spawnSync } from 'node:child_process';
import type { TypeDesc } from '../../../src/shared/datamodel/types.js';
import type { RecordField } from '../../../src/shared/wire/xml-encode.js';

export const T = {
  string: { kind: 'string' },
  int: { kind: 'int' },
  int32: { kind: 'int32' },
  float: { kind: 'float' },
  bool: { kind: 'bool' },
  datetime: { kind: 'datetime' },
  void: { kind: 'void' },
  ref: (cls: string): TypeDesc => ({ kind: 'ref', cls }),
  enum: (name: string): TypeDesc => ({ kind: 'enum', name }),
  set: (of: TypeDesc): TypeDesc => ({ kind: 'set', of }),
  map: (key: TypeDesc, value: TypeDesc): TypeDesc => ({ kind: 'map', key, value }),
  record: (cls: string): TypeDesc => ({ kind: 'record', cls }),
  option: (of: TypeDesc): TypeDesc => ({ kind: 'option', of }),
} as const satisfies Record<string, TypeDesc | ((...a: never[]) => TypeDesc)>;

export const LAYOUTS: Record<string, RecordField[]> = {
  VM: [
    { name: 'uuid', type: T.string },
    { name: 'name_label', type: T.string },
    { name: 'power_state', type: T.enum('vm_power_state') },
    { name: 'memory_static_max', type: T.int },
    { name: 'VCPUs_utilisation', type: T.map(T.int, T.float) },
    { name: 'is_a_template', type: T.bool },
    { name: 'last_boot', type: T.datetime },
    { name: 'VBDs', type: T.set(T.ref('VBD')) },
    { name: 'other_config', type: T.map(T.string, T.string) },
    { name: 'resident_on', type: T.ref('host') },
    { name: 'metrics', type: T.option(T.record('VM_metrics')) },
  ],
  VM_metrics: [
    { name: 'uuid', type: T.string },
    { name: 'progress', type: T.float },
  ],
};

export const ENUMS: Record<string, string[]> = {
  vm_power_state: ['Halted', 'Paused', 'Running', 'Suspended'],
  bond_mode: ['balance-slb', 'active-backup', 'lacp'],
};

export const ctx = {
  recordFields: (cls: string) => LAYOUTS[cls] ?? [],
  enumValues: (name: string) => ENUMS[name],
};

/** Runs a Python 3 program with `input` on stdin; returns stdout. */
export function python(program: string, input: string): string {
  const r = spawnSync('python3', ['-c', program], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return r.stdout;
}
