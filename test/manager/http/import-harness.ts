// For the /import tests: a source VM whose ova.xml the dataplane writes (vmToOvaObjects +
// ovaXml), XVAs built from it by Python's tarfile + xxhash (xva-build.py, xapi's layout) with
// known disk data, an HTTP PUT that streams a file, and what "nothing left behind" compares.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { ovaXml, vmToOvaObjects } from '../../../src/manager/dataplane/index.js';
import { volumePath } from '../../../src/shared/host/volume-path.js';
import type { StorageManager } from '../storage/harness.js';
import { vbdRecord, vdiRecord, vifRecord } from '../../helpers/records.js';

export const MiB = 1 << 20;
const BUILD = join(import.meta.dirname, 'xva-build.py');
// Async: a blocked event loop would also block the in-process manager and agent.
const run = promisify(execFile);

export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface SourceDisk {
  id: string;
  size: number;
  /** File holding the disk's bytes (size bytes). */
  data: string;
}

export interface Source {
  vm: string;
  ova: string;
  disks: SourceDisk[];
}

/** Disk bytes with data in a few places (the rest zeros, left out of the XVA). */
export function diskBytes(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  const spots = [0, Math.floor(size / 2), size - 4096];
  for (const [i, at] of spots.entries()) {
    const len = Math.min(4096 + i * 1000, size - at);
    randomBytes(len).copy(b, at);
    b.writeUInt32LE(seed, at);
  }
  return b;
}

/** A halted VM with two disks and a NIC; its ova.xml written by the dataplane; disk data files. */
export async function sourceVm(m: StorageManager, dir: string, name = 'import-src'): Promise<Source> {
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<string>('pool.get_default_SR', pool);
  const vm = await m.call<string>('VM.create', baseVmRecord({ name_label: name }));
  const sizes = [5 * MiB + 4096, 3 * MiB + 512];
  const vdis: string[] = [];
  for (const [i, size] of sizes.entries()) {
    const vdi = await m.call<string>('VDI.create', vdiRecord(sr, size, { name_label: `${name}-disk${i}` }));
    vdis.push(vdi);
    await m.call('VBD.create', vbdRecord(vm, vdi, { userdevice: String(i), bootable: i === 0 }));
  }
  const net = await m.call<string>('network.create', {
    name_label: 'import-net',
    name_description: '',
    other_config: {},
    bridge: 'impbr0',
  });
  await m.call('VIF.create', vifRecord(vm, net));
  const db = m.manager.svc.db;
  const exp = vmToOvaObjects(db, { vms: [vm], withSnapshotMetadata: false, preservePowerState: false });
  const ova = join(dir, `${name}.ova.xml`);
  writeFileSync(ova, ovaXml(db.model, exp.doc));
  const disks = exp.disks.map((d, i) => {
    const data = join(dir, `${name}-${i}.raw`);
    writeFileSync(data, diskBytes(d.virtualSize, i + 1));
    return { id: d.id, size: d.virtualSize, data };
  });
  return { vm, ova, disks };
}

export interface BuildOptions {
  compression?: 'none' | 'gzip' | 'zstd';
  mutate?: string;
  /** Replaces the ova.xml text (hostile sizes). */
  ova?: string;
}

/** Writes an XVA of `src` with Python (tarfile + xxhash) and returns its path. */
export async function buildXva(
  dir: string,
  src: Pick<Source, 'ova' | 'disks'>,
  out: string,
  o: BuildOptions = {},
): Promise<string> {
  const spec = join(dir, `${out}.json`);
  let ova = src.ova;
  if (o.ova !== undefined) {
    ova = join(dir, `${out}.ova.xml`);
    writeFileSync(ova, o.ova);
  }
  const path = join(dir, out);
  writeFileSync(
    spec,
    JSON.stringify({
      ova,
      out: path,
      compression: o.compression ?? 'none',
      disks: src.disks,
      mutate: o.mutate ?? '',
    }),
  );
  await run('/usr/bin/python3', [BUILD, spec]);
  return path;
}

export interface PutResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** PUT a file (Content-Length) to the manager's HTTP port. */
export function putFile(baseUrl: string, pathAndQuery: string, file: string): Promise<PutResult> {
  const u = new URL(pathAndQuery, baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      u,
      { method: 'PUT', headers: { 'content-length': statSync(file).size } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c) => parts.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts).toString(),
          }),
        );
        res.on('error', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts).toString(),
          }),
        );
      },
    );
    // The server may answer and close before it has read everything (a refused archive).
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ECONNRESET') resolve({ status: -1, headers: {}, body: e.code });
      else reject(e);
    });
    createReadStream(file).pipe(req);
  });
}

/** A task's refs in its result (`<value>OpaqueRef:…</value>`, an array for imports). */
export const resultRefs = (xml: string) => [...xml.matchAll(/OpaqueRef:[0-9a-f-]+/g)].map((x) => x[0]);

/** Waits for a task to leave pending and returns its record. */
export async function settledTask(m: StorageManager, task: string, timeoutMs = 120_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const rec = await m.call<any>('task.get_record', task);
    if (rec.status !== 'pending' && rec.status !== 'cancelling') return rec;
    if (Date.now() > until) throw new Error(`task ${task} still ${rec.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** PUT an XVA under a task of ours; resolves with the HTTP answer and the settled task. */
export async function importXva(
  m: StorageManager,
  query: Record<string, string>,
  file: string,
  path = '/import',
) {
  const task = await m.call<string>('task.create', 'test import', '');
  const q = new URLSearchParams({ session_id: m.session.ref, task_id: task, ...query });
  const res = await putFile(m.httpUrl, `${path}?${q}`, file);
  const rec = await settledTask(m, task);
  return { res, task, rec };
}

/** The image file of a VDI, as the agent lays it out. */
export async function imageOf(m: StorageManager, vdi: string): Promise<string> {
  const rec = await m.call<any>('VDI.get_record', vdi);
  const sr = await m.call<any>('SR.get_record', rec.SR);
  const pbd = await m.call<any>('PBD.get_record', sr.PBDs[0]);
  return volumePath(sr.type, sr.uuid, pbd.device_config, rec.location)!.path;
}

/** A VDI's bytes as qemu-img (not Berth) reads its image. */
export async function rawOf(m: StorageManager, vdi: string, dir: string): Promise<Buffer> {
  const out = join(dir, `raw-${Date.now()}-${Math.random()}.raw`);
  await run('qemu-img', ['convert', '-O', 'raw', await imageOf(m, vdi), out]);
  return readFileSync(out);
}

/** The files of the default SR's directory. */
export async function srFiles(m: StorageManager): Promise<string[]> {
  const pool = (await m.call<string[]>('pool.get_all'))[0];
  const sr = await m.call<any>('SR.get_record', await m.call<string>('pool.get_default_SR', pool));
  const pbd = await m.call<any>('PBD.get_record', sr.PBDs[0]);
  const dc = pbd.device_config as Record<string, string>;
  return readdirSync(dc.location ?? dc.path).sort();
}

const CLASSES = ['VM', 'VBD', 'VIF', 'VDI', 'network', 'VM_metrics', 'VIF_metrics'];
/** Record counts, SR files and open NBD exports: all equal before and after a failed import. */
export async function leftovers(m: StorageManager) {
  const db = m.manager.svc.db;
  return {
    counts: Object.fromEntries(CLASSES.map((c) => [c, db.all(c).size])),
    files: await srFiles(m),
    nbd: (await m.manager.svc.hosts.local().blockdev_nbd_list()).length,
  };
}
