// Shared by the /export tests: a manager with a real agent, a halted VM with two qcow2 disks
// holding known data written by qemu-io, and an XVA checker written in Python (tarfile + the
// xxhash package + xmlrpc.client), none of it Berth's code.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { runChecked } from '../../../src/shared/exec.js';
import { volumePath } from '../../../src/shared/host/volume-path.js';
import { type StorageManager, startStorageManager } from '../storage/harness.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

export const MiB = 1024 * 1024;

export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The image file of a VDI, as the agent lays it out. */
export async function imageOf(m: StorageManager, vdi: string): Promise<string> {
  const rec = await m.call<any>('VDI.get_record', vdi);
  const sr = await m.call<any>('SR.get_record', rec.SR);
  const pbd = await m.call<any>('PBD.get_record', sr.PBDs[0]);
  return volumePath(sr.type, sr.uuid, pbd.device_config, rec.location)!.path;
}

export async function qemuIo(path: string, cmds: string[]) {
  for (const c of cmds) await runChecked('qemu-io', ['-f', 'qcow2', '-c', c, path]);
}

/** sha256 of the disk's bytes as qemu-img reads them (convert to raw). */
export async function rawSha(path: string, dir: string, name: string): Promise<string> {
  const out = join(dir, `${name}.src.raw`);
  await runChecked('qemu-img', ['convert', '-U', '-O', 'raw', path, out]);
  return sha(readFileSync(out));
}

export interface ExportFixture {
  m: StorageManager;
  vm: string;
  vmUuid: string;
  vdis: string[];
  /** VDI uuid → sha256 of its raw bytes. */
  expected: Map<string, string>;
}

/** Disk sizes: not a multiple of 1 MiB (the last chunk is short). */
export const DISK_SIZES = [24 * MiB + 3 * 512, 8 * MiB];

/** qemu-io writes: data, a region written with zeros (allocated, reads as zeros), the last sector. */
export const WRITES: string[][] = [
  [
    'write -P 0xab 0 1M',
    'write -P 0xcd 5M 300k',
    'write -P 0 10M 1M',
    'write -P 0x3c 12M 8M',
    `write -P 0x11 ${24 * MiB + 2 * 512} 512`,
  ],
  ['write -P 0x5a 2M 2M'],
];

export async function exportFixture(t: TestContext, dir: string): Promise<ExportFixture> {
  const m = await startStorageManager(t);
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: 'export-vm' }));
  const vdis: string[] = [];
  const expected = new Map<string, string>();
  for (const [i, size] of DISK_SIZES.entries()) {
    const vdi = await m.call<string>('VDI.create', vdiRecord(sr, size, { name_label: `export disk ${i}` }));
    vdis.push(vdi);
    await m.call('VBD.create', vbdRecord(vm, vdi, { userdevice: String(i), bootable: i === 0 }));
    const path = await imageOf(m, vdi);
    await qemuIo(path, WRITES[i]);
    expected.set(await m.call<string>('VDI.get_uuid', vdi), await rawSha(path, dir, `d${i}`));
  }
  return { m, vm, vmUuid: await m.call<string>('VM.get_uuid', vm), vdis, expected };
}

const CHECKER = `
import json, os, sys, tarfile, xmlrpc.client, xxhash
path, outdir = sys.argv[1], sys.argv[2]
tf = tarfile.open(path, 'r:')
members = tf.getmembers()
assert members[0].name == 'ova.xml', members[0].name
text = tf.extractfile(members[0]).read().decode('utf-8')
doc = xmlrpc.client.loads('<?xml version="1.0"?><methodResponse><params><param>' + text + '</param></params></methodResponse>')[0][0]
vdis = {o['id']: o['snapshot'] for o in doc['objects'] if o['class'] == 'VDI'}
vms = [o['snapshot'] for o in doc['objects'] if o['class'] == 'VM']
disks = {}
names = []
i = 1
while i < len(members):
    m = members[i]
    assert not m.name.endswith('.xxhash'), 'checksum without data: ' + m.name
    data = tf.extractfile(m).read()
    h = members[i + 1]
    assert h.name == m.name + '.xxhash', (m.name, h.name)
    got = tf.extractfile(h).read().decode()
    assert got == '%016X' % xxhash.xxh64(data).intdigest(), 'bad checksum ' + m.name  # xapi: %016LX
    assert len(data) <= 1048576
    ref, counter = m.name.split('/')
    disks.setdefault(ref, []).append((int(counter), data))
    names.append(m.name)
    i += 2
out = {}
for ref, chunks in disks.items():
    v = vdis[ref]
    size = int(v['virtual_size'])
    buf = bytearray(size)
    for n, data in chunks:
        buf[n * 1048576:n * 1048576 + len(data)] = data
    f = os.path.join(outdir, v['uuid'] + '.raw')
    open(f, 'wb').write(buf)
    out[v['uuid']] = {'file': f, 'chunks': [n for n, _ in chunks], 'size': size}
print(json.dumps({'version': doc['version'], 'vms': [{'uuid': v['uuid'], 'power_state': v['power_state'], 'is_a_snapshot': v['is_a_snapshot']} for v in vms], 'disks': out, 'names': names}))
`;

export interface CheckedXva {
  version: Record<string, string>;
  vms: { uuid: string; power_state: string; is_a_snapshot: boolean }[];
  /** VDI uuid → rebuilt raw file, chunk indices present, virtual size. */
  disks: Record<string, { file: string; chunks: number[]; size: number }>;
  names: string[];
}

/** Checks an uncompressed XVA with Python and rebuilds its disks into `dir`. */
export function checkXva(file: string, dir: string): CheckedXva {
  const script = join(dir, 'check_xva.py');
  writeFileSync(script, CHECKER);
  return JSON.parse(execFileSync('/usr/bin/python3', [script, file, dir], { encoding: 'utf8' }));
}

/** The rebuilt disks' sha256 by VDI uuid. */
export function rebuiltShas(x: CheckedXva): Map<string, string> {
  return new Map(Object.entries(x.disks).map(([uuid, d]) => [uuid, sha(readFileSync(d.file))]));
}
