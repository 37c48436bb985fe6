// `berth vm -n NAME disks|nics [list|add|remove] [options]`: a VM's disks and NICs, with a
// sub-verb as a fourth term (oVirt's vm.disk_attachments / vm.nics). The sub-verb's options
// follow it and are its own (`disks add --size 2G --sr data`), as every level's options follow
// their term.
import { parseArgs } from 'node:util';
import type { Api, ApiObject } from '../api.js';
import { CliError, EXIT_USAGE, notFoundError } from '../errors.js';
import { parseSize } from '../size.js';
import type { VerbSpec } from '../spec.js';
import { defaultSr, NULL_REF, refOf, single } from './compute-common.js';
import { addVif, attachVdi, createVdi } from './vm-device-ops.js';

type SubOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

/** The sub-verb's options (util.parseArgs, strict): an unknown one is a usage error. */
function subOptions(verb: string, sub: string, args: string[], options: SubOptions) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CliError(`${verb} ${sub}: ${(e as Error).message}`, EXIT_USAGE);
  }
}

/**
 * The VM's disks as oVirt lists a VM's disk attachments: each attached VDI (its name and uuid
 * are the text line's `{name} {id}`, usable with `berth disk -i`) with its VBD's device,
 * bootable and attached flags and `vbd_uuid` beside its own fields; an empty CD drive is its VBD.
 */
async function diskRows(api: Api, vm: string): Promise<ApiObject[]> {
  const rows: ApiObject[] = [];
  for (const ref of (await api.call('VM.get_VBDs', vm)) as string[]) {
    const vbd = (await api.call('VBD.get_record', ref)) as Record<string, unknown>;
    const attachment = {
      VBD: ref,
      vbd_uuid: vbd.uuid,
      vbd_type: vbd.type,
      userdevice: vbd.userdevice,
      device: vbd.device,
      bootable: vbd.bootable,
      mode: vbd.mode,
      currently_attached: vbd.currently_attached,
    };
    const vdiRef = String(vbd.VDI);
    if (vdiRef && vdiRef !== NULL_REF) {
      const vdi = (await api.call('VDI.get_record', vdiRef)) as Record<string, unknown>;
      rows.push({ cls: 'VDI', ref: vdiRef, record: { ...vdi, ...attachment } });
    } else
      rows.push({ cls: 'VBD', ref, record: { ...vbd, ...attachment, name_label: `(empty ${vbd.type})` } });
  }
  return rows.sort((a, b) => Number(a.record.userdevice) - Number(b.record.userdevice));
}

/** The VM's VIFs, named `eth<device>` as oVirtCmd names the NICs it makes, with their network's name. */
async function nicRows(api: Api, vm: string): Promise<ApiObject[]> {
  const rows: ApiObject[] = [];
  for (const ref of (await api.call('VM.get_VIFs', vm)) as string[]) {
    const vif = (await api.call('VIF.get_record', ref)) as Record<string, unknown>;
    const net = String(vif.network);
    const name = net && net !== NULL_REF ? await api.call('network.get_name_label', net) : '';
    rows.push({
      cls: 'VIF',
      ref,
      record: { ...vif, name_label: `eth${vif.device}`, network_name_label: name },
    });
  }
  return rows.sort((a, b) => Number(a.record.device) - Number(b.record.device));
}

/** The one row `which` names: a device number, a VDI/MAC/uuid, or a VDI name. */
function pick(rows: ApiObject[], which: string, keys: string[], what: string): ApiObject {
  const found = rows.filter((r) =>
    keys.some((k) => String(r.record[k]).toLowerCase() === which.toLowerCase()),
  );
  if (found.length === 0) throw notFoundError(`no ${what} '${which}' on this VM`);
  if (found.length > 1) throw new CliError(`Too many ${what}s matching '${which}'`);
  return found[0];
}

async function unplugIfAttached(api: Api, cls: 'VBD' | 'VIF', ref: string): Promise<void> {
  if (await api.call(`${cls}.get_currently_attached`, ref)) await api.call(`${cls}.unplug`, ref);
}

export function vmDisksVerb(): VerbSpec {
  return {
    name: 'disks',
    summary: "the VM's disks: list | add --size SIZE [--sr SR] [--name N] | remove DEVICE|VDI [--keep]",
    target: 'one',
    examples: [
      'berth vm -n web01 disks',
      'berth vm -n web01 disks add --size 2G --sr "Local storage"',
      'berth vm -n web01 disks remove 1',
    ],
    run: async (ctx, target) => {
      const { api } = ctx;
      const vm = single(target).ref;
      const [sub = 'list', ...rest] = ctx.args;
      const columns = ['userdevice', 'name_label', 'uuid', 'virtual_size', 'bootable', 'currently_attached'];
      if (sub === 'list') return { records: await diskRows(api, vm), columns };
      if (sub === 'add') {
        const { values } = subOptions('disks', sub, rest, {
          size: { type: 'string', short: 's' },
          sr: { type: 'string' },
          name: { type: 'string', short: 'n' },
          bootable: { type: 'boolean' },
        });
        if (!values.size) throw new CliError('disks add needs a size (--size SIZE)', EXIT_USAGE);
        const size = parseSize(String(values.size));
        if (size <= 0) throw new CliError(`invalid disk size '${values.size}'`, EXIT_USAGE);
        const sr = values.sr ? await refOf(api, 'SR', String(values.sr)) : await defaultSr(api);
        const vmName = String(await api.call('VM.get_name_label', vm));
        const count = ((await api.call('VM.get_VBDs', vm)) as string[]).length;
        const vdi = await createVdi(api, {
          sr,
          size,
          name: values.name ? String(values.name) : `${vmName}_${count}`,
        });
        try {
          await attachVdi(api, vm, vdi, Boolean(values.bootable));
        } catch (e) {
          await api.call('VDI.destroy', vdi).catch(() => undefined);
          throw e;
        }
        return api.byRef('VDI', vdi);
      }
      if (sub === 'remove') {
        const { values, positionals } = subOptions('disks', sub, rest, { keep: { type: 'boolean' } });
        if (positionals.length !== 1) throw new CliError('disks remove needs one DEVICE or VDI', EXIT_USAGE);
        const row = pick(
          await diskRows(api, vm),
          positionals[0],
          ['userdevice', 'device', 'uuid', 'name_label', 'vbd_uuid'],
          'disk',
        );
        const vbd = String(row.record.VBD);
        await unplugIfAttached(api, 'VBD', vbd);
        await api.call('VBD.destroy', vbd);
        if (!values.keep && row.cls === 'VDI' && row.record.vbd_type === 'Disk')
          await api.call('VDI.destroy', row.ref);
        return true;
      }
      throw new CliError(`unknown disks sub-verb '${sub}' (list, add, remove)`, EXIT_USAGE);
    },
  };
}

export function vmNicsVerb(): VerbSpec {
  return {
    name: 'nics',
    summary: "the VM's NICs: list | add --network NET [--mac MAC] | remove DEVICE|MAC",
    target: 'one',
    examples: ['berth vm -n web01 nics', 'berth vm -n web01 nics add --network lan'],
    run: async (ctx, target) => {
      const { api } = ctx;
      const vm = single(target).ref;
      const [sub = 'list', ...rest] = ctx.args;
      const columns = ['device', 'name_label', 'MAC', 'network_name_label', 'uuid', 'currently_attached'];
      if (sub === 'list') return { records: await nicRows(api, vm), columns };
      if (sub === 'add') {
        const { values } = subOptions('nics', sub, rest, {
          network: { type: 'string', short: 'n' },
          mac: { type: 'string', short: 'm' },
        });
        if (!values.network) throw new CliError('nics add needs a network (--network NET)', EXIT_USAGE);
        const net = await refOf(api, 'network', String(values.network));
        return api.byRef('VIF', await addVif(api, vm, net, values.mac ? String(values.mac) : ''));
      }
      if (sub === 'remove') {
        const { positionals } = subOptions('nics', sub, rest, {});
        if (positionals.length !== 1) throw new CliError('nics remove needs one DEVICE or MAC', EXIT_USAGE);
        const row = pick(
          await nicRows(api, vm),
          positionals[0],
          ['device', 'name_label', 'MAC', 'uuid'],
          'NIC',
        );
        await unplugIfAttached(api, 'VIF', row.ref);
        await api.call('VIF.destroy', row.ref);
        return true;
      }
      throw new CliError(`unknown nics sub-verb '${sub}' (list, add, remove)`, EXIT_USAGE);
    },
  };
}
