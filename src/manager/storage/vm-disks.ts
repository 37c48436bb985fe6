// A VM's disks: the spec entries VM.start hands to the host agent, and the storage side of
// VM.clone / VM.copy / VM.snapshot / VM.provision (new VDIs and VBDs for a new VM record).
import { SaxesParser } from 'saxes';
import { volumePath } from '../../shared/host/volume-path.js';
import { XenApiError } from '../../shared/errors.js';
import type { Database, Row } from '../db/database.js';
import type { CallContext, Services } from '../api/context.js';
import type { InstanceSpec } from '../vm/host-agent.js';
import { isNull, localPbd } from './records.js';
import { type LiveSnapshot, liveHolder, liveSnapshotVdis } from './live-snapshot.js';
import { type CloneKind, cloneVdi, copyVdi, createVdi, destroyVdi } from './vdi-ops.js';

export type DiskSpec = InstanceSpec['disks'][number];

/** Guest device name for a userdevice slot: 0 → xvda, 1 → xvdb, … (pure). */
export function deviceName(userdevice: string): string {
  const n = Number(userdevice);
  if (!Number.isInteger(n) || n < 0) return userdevice;
  let s = '';
  let i = n;
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26) - 1;
  } while (i >= 0);
  return `xvd${s}`;
}

/** The guest device a VBD is (or will be) attached as: VBD.device once set, else from userdevice. */
export const vbdDevice = (b: Row): string => String(b.device || deviceName(String(b.userdevice)));

/**
 * The disk list of VM `vm` for its instance spec (pure): one entry per VBD that has a VDI on an
 * SR plugged on this host, in userdevice order, and the empty CD drives (no medium, so a medium
 * can be inserted while the VM runs). `remap`: VDIs replaced by others (a storage migration's
 * destination spec: the moved disks on their new volumes).
 */
export function vmDisks(db: Database, vm: string, hostRef?: string, remap?: Map<string, string>): DiskSpec[] {
  const rec = db.mustGet('VM', vm);
  const out: (DiskSpec & { order: number })[] = [];
  for (const vbd of rec.VBDs as string[]) {
    const b = db.get('VBD', vbd);
    if (!b) continue;
    if (b.empty || isNull(b.VDI)) {
      if (b.type === 'CD')
        out.push({
          path: '',
          format: 'raw',
          readonly: true,
          device: vbdDevice(b),
          cdrom: true,
          order: Number(b.userdevice) || 0,
        });
      continue;
    }
    const vdiRef = remap?.get(String(b.VDI)) ?? String(b.VDI);
    const vdi = db.get('VDI', vdiRef);
    const sr = vdi ? db.get('SR', String(vdi.SR)) : undefined;
    if (!vdi || !sr) throw new XenApiError('VM_REQUIRES_VDI', [vm, vdiRef]);
    const pbd = (sr.PBDs as string[])
      .map((p) => db.get('PBD', p))
      .find((p) => p && (!hostRef || p.host === hostRef));
    if (!pbd?.currently_attached) throw new XenApiError('VM_REQUIRES_SR', [vm, String(vdi.SR)]);
    const where = volumePath(
      String(sr.type),
      String(sr.uuid),
      pbd.device_config as Record<string, string>,
      String(vdi.location),
    );
    if (!where) throw new XenApiError('VDI_MISSING', [String(vdi.SR), vdiRef]);
    const cdrom = b.type === 'CD';
    out.push({
      path: where.path,
      format: where.format,
      readonly: cdrom || b.mode === 'RO' || Boolean(vdi.read_only),
      device: vbdDevice(b),
      cdrom: cdrom || undefined,
      order: Number(b.userdevice) || 0,
    });
  }
  return out.sort((a, b) => a.order - b.order).map(({ order: _o, ...d }) => d);
}

/**
 * Marks a VM's VBDs attached or not (start and halt); an attached VBD gets its guest device name.
 * Empty CD drives count as attached: the drive is there, only the medium is missing.
 */
export function setVbdsAttached(db: Database, vm: string, attached: boolean): void {
  db.transaction(() => {
    for (const vbd of (db.get('VM', vm)?.VBDs as string[]) ?? []) {
      const b = db.get('VBD', vbd);
      if (!b) continue;
      const want = attached && (!b.empty || b.type === 'CD');
      if (b.currently_attached !== want) db.update('VBD', vbd, { currently_attached: want });
      if (want && !b.device) db.update('VBD', vbd, { device: vbdDevice(b) });
    }
  });
}

/** The VBD fields a copied disk's VBD takes from the original (copies, snapshots, reverts). */
const VBD_COPY_FIELDS = [
  'userdevice',
  'bootable',
  'mode',
  'type',
  'unpluggable',
  'other_config',
  'qos_algorithm_type',
  'qos_algorithm_params',
  'empty',
];

/** Creates a detached VBD putting `vdi` in `vm` the way VBD record `like` has its disk. */
export function createVbdLike(db: Database, like: Row, vm: string, vdi: string): string {
  const fields: Row = { VM: vm, VDI: vdi, currently_attached: false };
  for (const k of VBD_COPY_FIELDS) fields[k] = structuredClone(like[k]);
  return db.create('VBD', fields);
}

export type DiskCopyMode = CloneKind | 'copy';

/**
 * Gives `newVm` disks like `oldVm`'s: each disk VDI is cloned, snapshotted or fully copied
 * (copy: into `sr` when given), CDs point at the same media. On failure everything made so far
 * is removed again. Returns the new VBDs.
 */
export async function copyVmDisks(
  svc: Services,
  oldVm: string,
  newVm: string,
  mode: DiskCopyMode,
  opts: { sr?: string; task: string; skipVdis?: string[]; memoryPath?: string },
  live?: (snap: LiveSnapshot) => void,
): Promise<string[]> {
  const { db } = svc;
  const made: { vbds: string[]; vdis: string[] } = { vbds: [], vdis: [] };
  try {
    // A running VM's disks: all at one instant through its QEMU (live-snapshot.ts), first.
    const taken = await snapshotRunningDisks(svc, oldVm, mode, opts);
    if (taken) {
      made.vdis.push(...taken.snapshots.values());
      live?.(taken);
    }
    for (const vbd of [...(db.mustGet('VM', oldVm).VBDs as string[])]) {
      const b = db.get('VBD', vbd);
      if (!b) continue;
      // VM.snapshot's ignore_vdis: those disks are left out of the snapshot, as xapi does.
      if (opts.skipVdis?.includes(String(b.VDI))) continue;
      let vdi = String(b.VDI);
      if (b.type !== 'CD' && !b.empty && !isNull(b.VDI)) {
        const snap = taken?.snapshots.get(vdi);
        if (snap) vdi = snap;
        else {
          vdi =
            mode === 'copy'
              ? await copyVdi(svc, vdi, opts.sr, opts.task)
              : await cloneVdi(svc, vdi, mode, opts.task);
          made.vdis.push(vdi);
        }
      }
      made.vbds.push(createVbdLike(db, b, newVm, vdi));
    }
    return made.vbds;
  } catch (e) {
    for (const v of made.vbds) if (db.has('VBD', v)) db.destroy('VBD', v);
    for (const v of made.vdis) await destroyVdi(svc, v, opts.task).catch(() => undefined);
    throw e;
  }
}

/**
 * VM.snapshot / VM.checkpoint of a running or paused VM: its disks held read-write (not skipped)
 * snapshotted live at one instant, and its memory saved for a checkpoint; undefined when the VM
 * is not running (every disk then goes the offline way).
 */
async function snapshotRunningDisks(
  svc: Services,
  vm: string,
  mode: DiskCopyMode,
  opts: { task: string; skipVdis?: string[]; memoryPath?: string },
): Promise<LiveSnapshot | undefined> {
  const { db } = svc;
  const state = db.mustGet('VM', vm).power_state;
  if (mode !== 'snapshot' || (state !== 'Running' && state !== 'Paused')) return undefined;
  const vdis: string[] = [];
  for (const vbd of db.mustGet('VM', vm).VBDs as string[]) {
    const b = db.get('VBD', vbd);
    if (!b || b.type === 'CD' || b.empty || isNull(b.VDI) || opts.skipVdis?.includes(String(b.VDI))) continue;
    if (liveHolder(svc, String(b.VDI))?.vm === vm) vdis.push(String(b.VDI));
  }
  if (!vdis.length && opts.memoryPath === undefined) return undefined;
  return liveSnapshotVdis(svc, vm, vdis, opts.task, { memoryPath: opts.memoryPath });
}

export interface ProvisionDisk {
  device: string;
  size: number;
  sr: string;
  bootable: boolean;
  type: string;
}

/** Parses a template's other_config["disks"] (`<provision><disk device= size= sr= bootable= type=/>…`). */
export function parseProvisionXml(xml: string): ProvisionDisk[] {
  const disks: ProvisionDisk[] = [];
  const p = new SaxesParser();
  p.on('doctype', () => {
    throw new Error('DOCTYPE not allowed');
  });
  p.on('opentag', (tag) => {
    if (tag.name !== 'disk') return;
    const a = tag.attributes as Record<string, string>;
    const size = Number(a.size);
    if (!/^\d+$/.test(a.device ?? '') || !Number.isSafeInteger(size) || size <= 0)
      throw new Error(`bad <disk> element: device=${a.device} size=${a.size}`);
    disks.push({
      device: a.device,
      size,
      sr: a.sr ?? '',
      bootable: a.bootable === 'true',
      type: a.type || 'system',
    });
  });
  try {
    p.write(xml).close();
  } catch (e) {
    throw new XenApiError('INVALID_VALUE', ['other_config:disks', xml, String((e as Error).message)]);
  }
  return disks;
}

/**
 * VM.provision's storage part (svc.provisionDisks): creates the disks a template's
 * other_config["disks"] describes, in the SR named (uuid) or the pool's default SR, attaches them
 * as VBDs and removes the "disks" key, as xapi does.
 */
export async function provisionDisks(ctx: CallContext, vm: string): Promise<void> {
  const { svc } = ctx;
  const { db } = svc;
  const rec = db.mustGet('VM', vm);
  const other = rec.other_config as Record<string, string>;
  if (!other.disks) return;
  const disks = parseProvisionXml(other.disks);
  const made: string[] = [];
  try {
    for (const d of disks) {
      let sr: string | undefined;
      if (d.sr) {
        sr = db.refByUuid('SR', d.sr);
        if (!sr) throw new XenApiError('UUID_INVALID', ['SR', d.sr]);
      } else {
        const def = String(db.mustGet('pool', svc.poolRef()).default_SR);
        if (isNull(def) || !db.has('SR', def)) throw new XenApiError('DEFAULT_SR_NOT_FOUND', [def]);
        sr = def;
      }
      if (!localPbd(svc, sr)) throw new XenApiError('SR_HAS_NO_PBDS', [sr]);
      const vdi = await createVdi(svc, {
        SR: sr,
        virtual_size: d.size,
        name_label: `${rec.name_label} ${d.device}`,
        name_description: 'Created by template provisioner',
        type: d.type === 'user' ? 'user' : 'system',
        sharable: false,
        read_only: false,
        other_config: {},
      });
      made.push(vdi);
      db.create('VBD', {
        VM: vm,
        VDI: vdi,
        userdevice: d.device,
        bootable: d.bootable,
        mode: 'RW',
        type: 'Disk',
        empty: false,
        other_config: { owner: '' },
        qos_algorithm_type: '',
        qos_algorithm_params: {},
      });
    }
  } catch (e) {
    for (const v of made) await destroyVdi(svc, v, ctx.task?.ref ?? 'provision').catch(() => undefined);
    throw e;
  }
  const { disks: _gone, ...rest } = other;
  db.update('VM', vm, { other_config: rest });
}
