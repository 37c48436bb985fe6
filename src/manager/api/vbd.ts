// VBD.*: attaching VDIs to VMs. Creation follows xapi's rules (userdevice autodetect, CDs
// read-only, only CDs empty, RW needs a writable VDI); plug/unplug/insert/eject on a running VM
// go to the host's block hot-plug hook (svc.hosts, see BlockHotplug), written with the QEMU
// driver; on halted VMs they are refused as xapi does.
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import type { Database, Row } from '../db/database.js';
import { isNull, refreshVdiOps } from '../storage/records.js';
import { type DiskSpec, vbdDevice, vmDisks } from '../storage/vm-disks.js';
import { createRecord } from './implicit.js';
import { checkSetter } from './setters.js';
import type { CallContext, HandlerTable, Services } from './context.js';

/** What the host agent offers for disks of running VMs (QMP blockdev-add/device_add…). */
export interface BlockHotplug {
  blockAttach(vmUuid: string, disk: DiskSpec): Promise<void>;
  blockDetach(vmUuid: string, device: string, force: boolean): Promise<void>;
  /** Changes a CD drive's medium; null ejects. */
  blockMedia(vmUuid: string, device: string, media: { path: string; format: string } | null): Promise<void>;
  /** Grows a disk under the running guest (QMP block_resize). */
  blockResize(vmUuid: string, device: string, size: number): Promise<void>;
}

const MAX_DEVICES = 16;

/** Is `d` a userdevice xapi accepts: a slot number or a Xen/IDE/SCSI device name (pure)? */
export function validUserdevice(d: string): boolean {
  if (/^\d+$/.test(d)) return Number(d) < MAX_DEVICES;
  return /^(xvd|hd|sd)[a-p]$/.test(d);
}

/** First free slot among 0..15 (pure over the slots in use). */
export function autodetectUserdevice(used: readonly string[]): string | undefined {
  const taken = new Set(used);
  for (let i = 0; i < MAX_DEVICES; i++) if (!taken.has(String(i))) return String(i);
  return undefined;
}

function usedUserdevices(db: Database, vm: string): string[] {
  return (db.mustGet('VM', vm).VBDs as string[]).map((b) => String(db.get('VBD', b)?.userdevice));
}

/** The host a VM lives on: its resident host, this manager's when the record names none. */
export const vmHost = (svc: Services, vm: Row): string =>
  isNull(vm.resident_on) ? svc.hostRef() : String(vm.resident_on);

/** The block hot-plug hook of the agent of the host running `vm`. */
export function hotplugOf(svc: Services, vm: Row): BlockHotplug | undefined {
  const a = svc.hosts.peek(vmHost(svc, vm)) as Partial<BlockHotplug> | undefined;
  return a &&
    typeof a.blockAttach === 'function' &&
    typeof a.blockDetach === 'function' &&
    typeof a.blockMedia === 'function' &&
    typeof a.blockResize === 'function'
    ? (a as BlockHotplug)
    : undefined;
}

function runningVm(ctx: CallContext, vbd: Row): Row {
  const vm = ctx.svc.db.mustGet('VM', String(vbd.VM));
  return vm;
}

const isLive = (vm: Row) => vm.power_state === 'Running' || vm.power_state === 'Paused';

export function needHotplug(svc: Services, vm: Row): BlockHotplug {
  const h = hotplugOf(svc, vm);
  if (!h)
    throw new XenApiError('OPERATION_NOT_ALLOWED', ["disk hot-plug needs the host agent's QEMU driver"]);
  return h;
}

/** The disk spec of a VBD of a running VM, with the paths of the PBDs on the VM's host. */
function diskOf(svc: Services, vm: string, vbd: Row): DiskSpec {
  const want = vbdDevice(vbd);
  const d = vmDisks(svc.db, vm, vmHost(svc, svc.db.mustGet('VM', vm))).find((x) => x.device === want);
  if (!d) throw new XenApiError('VDI_MISSING', [NULL_REF, String(vbd.VDI)]);
  return d;
}

export const vbdApi: HandlerTable = {
  handlers: {
    'VBD.create': (ctx, rec) => {
      const { db } = ctx.svc;
      const f = createRecord(db, db.classSpec('VBD'), rec);
      const vm = String(f.VM);
      db.mustGet('VM', vm);
      const empty = Boolean(f.empty);
      if (f.type === 'CD' && f.mode !== 'RO') throw new XenApiError('VBD_CDS_MUST_BE_READONLY', []);
      if (empty && f.type !== 'CD') throw new XenApiError('VBD_NOT_REMOVABLE_MEDIA', ['in constructor']);
      const vdi = empty ? NULL_REF : String(f.VDI);
      if (!empty) {
        const v = db.mustGet('VDI', vdi);
        if (f.mode === 'RW' && v.read_only) throw new XenApiError('VDI_READONLY', [vdi]);
        // A data-destroyed snapshot holds only CBT metadata: nothing to attach (xapi).
        if (v.type === 'cbt_metadata') throw new XenApiError('VDI_INCOMPATIBLE_TYPE', [vdi, 'cbt_metadata']);
      }
      let userdevice = String(f.userdevice);
      const used = usedUserdevices(db, vm);
      if (userdevice === 'autodetect') {
        const free = autodetectUserdevice(used);
        if (!free) throw new XenApiError('INVALID_DEVICE', [userdevice]);
        userdevice = free;
      } else if (!validUserdevice(userdevice)) throw new XenApiError('INVALID_DEVICE', [userdevice]);
      if (used.includes(userdevice)) throw new XenApiError('DEVICE_ALREADY_EXISTS', [userdevice]);
      const vmRow = db.mustGet('VM', vm);
      const honour = vmRow.power_state === 'Suspended';
      const ref = db.create('VBD', {
        ...f,
        VDI: vdi,
        userdevice,
        empty,
        device: honour ? (f.device ?? '') : '',
        currently_attached: honour ? Boolean(f.currently_attached) : false,
        allowed_operations:
          f.type === 'CD' ? ['attach', 'eject', 'insert', 'plug', 'unplug'] : ['attach', 'plug', 'unplug'],
      });
      if (!isNull(vdi)) refreshVdiOps(ctx.svc, vdi);
      return ref;
    },
    'VBD.destroy': (ctx, vbd) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VBD', vbd);
      if (row.currently_attached)
        throw new XenApiError('OPERATION_NOT_ALLOWED', ['VBD is currently attached to a running VM']);
      db.destroy('VBD', vbd);
      if (!isNull(row.VDI)) refreshVdiOps(ctx.svc, String(row.VDI));
    },
    'VBD.insert': async (ctx, vbd, vdi) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VBD', vbd);
      db.mustGet('VDI', vdi);
      if (row.type !== 'CD') throw new XenApiError('VBD_NOT_REMOVABLE_MEDIA', [vbd]);
      if (!row.empty) throw new XenApiError('VBD_NOT_EMPTY', [vbd]);
      const vm = runningVm(ctx, row);
      db.update('VBD', vbd, { VDI: vdi, empty: false });
      if (isLive(vm) && row.currently_attached) {
        try {
          const disk = diskOf(ctx.svc, String(row.VM), db.get('VBD', vbd)!);
          await needHotplug(ctx.svc, vm).blockMedia(String(vm.uuid), disk.device, {
            path: disk.path,
            format: disk.format,
          });
        } catch (e) {
          db.update('VBD', vbd, { VDI: NULL_REF, empty: true });
          throw e;
        }
      }
      refreshVdiOps(ctx.svc, vdi);
    },
    'VBD.eject': async (ctx, vbd) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VBD', vbd);
      if (row.type !== 'CD') throw new XenApiError('VBD_NOT_REMOVABLE_MEDIA', [vbd]);
      if (row.empty) throw new XenApiError('VBD_IS_EMPTY', [vbd]);
      const vm = runningVm(ctx, row);
      if (isLive(vm) && row.currently_attached) {
        const disk = diskOf(ctx.svc, String(row.VM), row);
        await needHotplug(ctx.svc, vm).blockMedia(String(vm.uuid), disk.device, null);
      }
      const old = String(row.VDI);
      db.update('VBD', vbd, { VDI: NULL_REF, empty: true });
      refreshVdiOps(ctx.svc, old);
    },
    'VBD.plug': async (ctx, vbd) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VBD', vbd);
      const vm = runningVm(ctx, row);
      if (!isLive(vm))
        throw new XenApiError('VM_BAD_POWER_STATE', [
          String(row.VM),
          'running',
          String(vm.power_state).toLowerCase(),
        ]);
      if (row.currently_attached) throw new XenApiError('DEVICE_ALREADY_ATTACHED', [vbd]);
      const hot = needHotplug(ctx.svc, vm);
      if (!row.empty) await hot.blockAttach(String(vm.uuid), diskOf(ctx.svc, String(row.VM), row));
      db.update('VBD', vbd, { currently_attached: true, device: vbdDevice(row) });
      if (!isNull(row.VDI)) refreshVdiOps(ctx.svc, String(row.VDI));
    },
    'VBD.unplug': async (ctx, vbd) => unplug(ctx, vbd, false),
    'VBD.unplug_force': async (ctx, vbd) => unplug(ctx, vbd, true),
    'VBD.assert_attachable': (ctx, vbd) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VBD', vbd);
      if (row.empty) return;
      const vdi = db.mustGet('VDI', String(row.VDI));
      if (row.mode === 'RW' && vdi.read_only) throw new XenApiError('VDI_READONLY', [String(row.VDI)]);
      if (vdi.missing) throw new XenApiError('VDI_MISSING', [String(vdi.SR), String(row.VDI)]);
      vmDisks(db, String(row.VM)); // SR plugged, volume path derivable
    },
    'VBD.set_mode': (ctx, vbd, mode) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VBD', vbd);
      checkSetter(ctx, 'VBD.set_mode', vbd, [mode]); // the VM is halted (setter-rules.ts)
      if (row.type === 'CD' && mode === 'RW') throw new XenApiError('VBD_CDS_MUST_BE_READONLY', []);
      if (mode === 'RW' && !row.empty && db.get('VDI', String(row.VDI))?.read_only)
        throw new XenApiError('VDI_READONLY', [String(row.VDI)]);
      db.update('VBD', vbd, { mode });
    },
  },
};

async function unplug(ctx: CallContext, vbd: string, force: boolean) {
  const { db } = ctx.svc;
  const row = db.mustGet('VBD', vbd);
  if (!row.currently_attached) throw new XenApiError('DEVICE_ALREADY_DETACHED', [vbd]);
  if (!force && !row.unpluggable) throw new XenApiError('VBD_NOT_UNPLUGGABLE', [vbd]);
  const vm = runningVm(ctx, row);
  if (isLive(vm) && !row.empty) {
    try {
      await needHotplug(ctx.svc, vm).blockDetach(String(vm.uuid), vbdDevice(row), force);
    } catch (e) {
      // The agent names the device; the API names the VBD.
      if (e instanceof XenApiError && e.code === 'DEVICE_DETACH_REJECTED')
        throw new XenApiError('DEVICE_DETACH_REJECTED', ['VBD', vbd, e.params[2] ?? '']);
      throw e;
    }
  }
  db.update('VBD', vbd, { currently_attached: false });
  if (!isNull(row.VDI)) refreshVdiOps(ctx.svc, String(row.VDI));
}
