// VM.provision's OS part (issue 18): a template whose other_config names an OS definition
// (`berth-os=<name>[+variant]`, `berth-os-param-<name>=<value>`; docs/os-definitions.md) gets its
// guest installed by the definition's `create` script on the host that holds its disks, as xapi's
// install-* keys get a guest installed at first boot. Failures leave the VM as it was before
// VM.provision: the disks it made are destroyed and the template's fields restored.
import { XenApiError } from '../../shared/errors.js';
import { type OsDisk, type OsInstance, type OsNic, osFromOtherConfig } from '../../shared/host/os.js';
import type { CallContext } from '../api/context.js';
import type { Database, Row } from '../db/database.js';
import { isNull } from '../storage/records.js';
import { destroyVdi } from '../storage/vdi-ops.js';
import { vbdDevice, vmDisks } from '../storage/vm-disks.js';
import type { HostAgent } from './host-agent.js';

/** The VM fields VM.provision changes, kept to put back on failure. */
export interface ProvisionBefore {
  is_a_template: boolean;
  is_default_template: boolean;
  other_config: Record<string, string>;
  vbds: Set<string>;
}

export function provisionBefore(db: Database, vm: string): ProvisionBefore {
  const r = db.mustGet('VM', vm);
  return {
    is_a_template: Boolean(r.is_a_template),
    is_default_template: Boolean(r.is_default_template),
    other_config: { ...(r.other_config as Record<string, string>) },
    vbds: new Set(r.VBDs as string[]),
  };
}

/** The instance an OS script sees for `vm` on `host` (pure over the database). */
export function osInstance(
  db: Database,
  vm: string,
  host: string,
  os: string,
  params: Record<string, string>,
): OsInstance {
  const rec = db.mustGet('VM', vm);
  const specs = vmDisks(db, vm, host).filter((d) => !d.cdrom);
  const vdiOfDevice = new Map<string, Row>();
  for (const vbd of rec.VBDs as string[]) {
    const b = db.get('VBD', vbd);
    if (b && b.type !== 'CD' && !isNull(b.VDI)) {
      const vdi = db.get('VDI', String(b.VDI));
      if (vdi) vdiOfDevice.set(vbdDevice(b), vdi);
    }
  }
  const disks: OsDisk[] = specs.map((d) => {
    const vdi = vdiOfDevice.get(d.device);
    return {
      path: d.path,
      format: d.format,
      readonly: d.readonly,
      uuid: vdi ? String(vdi.uuid) : undefined,
      name: vdi
        ? String(vdi.name_label)
            .replace(/[\0\n\r]/g, ' ')
            .slice(0, 255)
        : undefined,
    };
  });
  const nics: OsNic[] = [];
  const vifs = ((rec.VIFs as string[]) ?? [])
    .map((v) => db.get('VIF', v))
    .filter((v): v is Row => Boolean(v))
    .sort((a, b) => Number(a.device) - Number(b.device));
  for (const v of vifs) {
    const net = db.get('network', String(v.network));
    nics.push({
      mac: String(v.MAC),
      bridge: net?.bridge ? String(net.bridge) : undefined,
      uuid: String(v.uuid),
    });
  }
  const label = String(rec.name_label ?? '')
    .replace(/[\0\n\r]/g, ' ')
    .slice(0, 255);
  return {
    uuid: String(rec.uuid),
    name: label || String(rec.uuid),
    os,
    osParams: params,
    disks,
    nics,
    primaryNode: String(db.get('host', host)?.hostname ?? ''),
    beParams: {
      maxmem: String(Math.floor(Number(rec.memory_static_max) / (1024 * 1024))),
      vcpus: String(rec.VCPUs_at_startup),
    },
  };
}

/** The OS a template names, checked on its host before anything is created (os_validate). */
export async function validateTemplateOs(
  agent: HostAgent,
  other: Record<string, string>,
): Promise<{ os: string; params: Record<string, string> } | undefined> {
  const named = osFromOtherConfig(other);
  if (!named) return undefined;
  await agent.os.os_validate(true, named.os, ['parameters'], named.params);
  return named;
}

/** Runs the OS's create script on the VM's disks (instance_os_add). */
export async function installOs(
  ctx: CallContext,
  agent: HostAgent,
  vm: string,
  host: string,
  named: { os: string; params: Record<string, string> },
): Promise<void> {
  const inst = osInstance(ctx.svc.db, vm, host, named.os, named.params);
  if (!inst.disks.length)
    throw new XenApiError('OS_SCRIPT_FAILED', [
      named.os,
      'create',
      'the VM has no disk to install on',
      '',
      '',
    ]);
  await agent.os.instance_os_add(inst, false, 0);
}

/** Puts a VM back as it was before VM.provision: the disks it made go, its fields come back. */
export async function undoProvision(ctx: CallContext, vm: string, before: ProvisionBefore): Promise<void> {
  const { db } = ctx.svc;
  for (const vbd of (db.get('VM', vm)?.VBDs as string[]) ?? []) {
    if (before.vbds.has(vbd)) continue;
    const vdi = String(db.get('VBD', vbd)?.VDI ?? '');
    if (vdi && !isNull(vdi))
      await destroyVdi(ctx.svc, vdi, ctx.task?.ref ?? 'provision').catch(() => undefined);
    if (db.has('VBD', vbd)) db.destroy('VBD', vbd);
  }
  db.update('VM', vm, {
    is_a_template: before.is_a_template,
    is_default_template: before.is_default_template,
    other_config: before.other_config,
  });
}
