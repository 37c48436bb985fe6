// A storage-enabled in-process manager with a VM that has two disks, an empty CD, a VIF on a
// network and a (halted) snapshot, for the ova.xml export/import tests; and an independent
// reader of ova.xml text: Python's xmlrpc.client.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { startStorageManager, type StorageManager } from '../storage/harness.js';
import { vbdRecord, vdiRecord, vifRecord } from '../../helpers/records.js';

export const MiB = 1024 * 1024;
export const NULL = 'OpaqueRef:NULL';

export interface Fixture {
  m: StorageManager;
  sr: string;
  vm: string;
  snap: string;
  vdis: string[];
  net: string;
  vif: string;
}

export async function defaultSr(m: StorageManager): Promise<string> {
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  return m.call<string>('pool.get_default_SR', pool);
}

export async function vmWithDevices(t: TestContext): Promise<Fixture> {
  const m = await startStorageManager(t);
  const sr = await defaultSr(m);
  const vm = await m.call<string>(
    'VM.create',
    baseVmRecord({
      name_label: 'meta-vm',
      name_description: 'two disks & a "NIC" <x>',
      other_config: { k: 'v' },
    }),
  );
  const vdis: string[] = [];
  for (const [i, size] of [
    [0, 8 * MiB],
    [1, 3 * MiB + 512],
  ] as const) {
    const vdi = await m.call<string>(
      'VDI.create',
      vdiRecord(sr, size, { other_config: { disk: String(i) }, name_label: `disk${i}` }),
    );
    vdis.push(vdi);
    await m.call('VBD.create', vbdRecord(vm, vdi, { userdevice: String(i), bootable: i === 0 }));
  }
  await m.call('VBD.create', {
    VM: vm,
    VDI: NULL,
    userdevice: '3',
    bootable: false,
    mode: 'RO',
    type: 'CD',
    empty: true,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  const net = await m.call<string>('network.create', {
    name_label: 'meta-net',
    name_description: '',
    other_config: {},
    bridge: 'metabr0',
  });
  const vif = await m.call<string>('VIF.create', vifRecord(vm, net));
  const snap = await m.call<string>('VM.snapshot', vm, 'meta-snap', []);
  return { m, sr, vm, snap, vdis, net, vif };
}

/** Parses ova.xml text with Python's xmlrpc.client (wrapped as a methodResponse) into JSON. */
export function pythonReads(dir: string, ovaXml: string): any {
  const file = join(dir, 'ova.xml');
  writeFileSync(file, ovaXml);
  const script = `
import json, sys, xmlrpc.client
text = open(sys.argv[1], encoding='utf-8').read()
doc = xmlrpc.client.loads('<?xml version="1.0"?><methodResponse><params><param>' + text + '</param></params></methodResponse>')[0][0]
def conv(v):
    if isinstance(v, xmlrpc.client.DateTime): return {'dateTime': v.value}
    if isinstance(v, bool): return {'bool': v}
    if isinstance(v, int): return {'int': v}
    if isinstance(v, float): return {'double': v}
    if isinstance(v, list): return [conv(x) for x in v]
    if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}
    return v
print(json.dumps(conv(doc)))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' }));
}
