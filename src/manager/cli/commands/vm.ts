// VM commands: power operations, clone/copy/snapshot, install/uninstall, listings, console.
import { boolParam, getParam, hasParam, parseSize, requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import type { BoundRecord, Row } from '../records.js';
import { doMultiple, select } from '../select.js';
import { runAsync } from '../tasks.js';
import { callNamed, command, refOf, uuidOf } from './common.js';

type VmOp = (ctx: Ctx, vm: BoundRecord) => Promise<void>;

/** A command on selected VMs (its own parameters never act as filters). */
function vmCommand(
  name: string,
  op: VmOp,
  opts: { includeDom0?: boolean; includeTemplates?: boolean; single?: boolean } = {},
): CommandSpec {
  const spec = command(name, async (ctx) => {
    const vms = await select(ctx, { kind: 'vm', own: [...spec.reqd, ...spec.optn], ...opts });
    await doMultiple(ctx, vms, 'vm', (vm) => op(ctx, vm), opts.single);
  });
  return spec;
}

async function hostByNameOrUuid(ctx: Ctx, v: string): Promise<string> {
  const hosts = (await ctx.api.call(ctx.session, 'host.get_all_records', [])) as Record<string, Row>;
  const hit = Object.entries(hosts).find(([, h]) => h.uuid === v || h.name_label === v || h.hostname === v);
  if (!hit) throw new CliError(`Host '${v}' not found`);
  return hit[0];
}

const start: VmOp = async (ctx, vm) => {
  const paused = boolParam(ctx.params, 'paused');
  const force = boolParam(ctx.params, 'force');
  const on = getParam(ctx.params, 'on');
  if (on) await runAsync(ctx, 'VM.start_on', [vm.ref, await hostByNameOrUuid(ctx, on), paused, force]);
  else await runAsync(ctx, 'VM.start', [vm.ref, paused, force]);
};

const shutdown: VmOp = async (ctx, vm) => {
  await runAsync(ctx, boolParam(ctx.params, 'force') ? 'VM.hard_shutdown' : 'VM.clean_shutdown', [vm.ref]);
};

const reboot: VmOp = async (ctx, vm) => {
  await runAsync(ctx, boolParam(ctx.params, 'force') ? 'VM.hard_reboot' : 'VM.clean_reboot', [vm.ref]);
};

const resume: VmOp = async (ctx, vm) => {
  const force = boolParam(ctx.params, 'force');
  const on = getParam(ctx.params, 'on');
  if (on) await runAsync(ctx, 'VM.resume_on', [vm.ref, await hostByNameOrUuid(ctx, on), false, force]);
  else await runAsync(ctx, 'VM.resume', [vm.ref, false, force]);
};

/** Parameters that make vm-migrate a storage (cross-pool) migration in xapi's CLI. */
const SXM_PARAMS = [
  'remote-master',
  'remote-username',
  'remote-password',
  'remote-network',
  'vif:',
  'vdi:',
  'image-format:',
  'vgpu:',
];

/**
 * vm-migrate within the pool (xapi's cli_operations.vm_migrate): host= (or host-uuid=/host-name=,
 * a host's name or uuid) and VM.pool_migrate with force/live/copy/compress as given. Unlike
 * xapi's CLI, live is passed only when given: xapi ignores it and always migrates live, Berth
 * honours live=false (docs/migration.md).
 */
const migrate: VmOp = async (ctx, vm) => {
  const options: Record<string, string> = {};
  for (const key of ['force', 'live', 'copy'])
    if (hasParam(ctx.params, key)) options[key] = String(boolParam(ctx.params, key));
  const compress = getParam(ctx.params, 'compress');
  if (compress !== undefined) options.compress = compress;
  const host =
    getParam(ctx.params, 'host') ?? getParam(ctx.params, 'host-uuid') ?? getParam(ctx.params, 'host-name');
  if (host === undefined) throw new CliError('No destination host specified');
  await runAsync(ctx, 'VM.pool_migrate', [vm.ref, await hostByNameOrUuid(ctx, host), options]);
};

/** Clone, copy or snapshot: the new VM's uuid is printed. */
const copyLike =
  (method: 'VM.clone' | 'VM.copy' | 'VM.snapshot' | 'VM.checkpoint'): VmOp =>
  async (ctx, vm) => {
    const name = requireParam(ctx.params, 'new-name-label');
    const args: unknown[] = [vm.ref, name];
    if (method === 'VM.copy') {
      const sr = getParam(ctx.params, 'sr-uuid');
      args.push(sr ? await refOf(ctx, 'SR', sr) : 'OpaqueRef:NULL');
    }
    if (method === 'VM.snapshot' && hasParam(ctx.params, 'ignore-vdi-uuids')) {
      const uuids = requireParam(ctx.params, 'ignore-vdi-uuids').split(',').filter(Boolean);
      args.push(await Promise.all(uuids.map((u) => refOf(ctx, 'VDI', u))));
    }
    const ref = await runAsync(ctx, method, args);
    const desc = getParam(ctx.params, 'new-name-description');
    if (desc !== undefined) await ctx.api.call(ctx.session, 'VM.set_name_description', [ref, desc]);
    ctx.p.list([await uuidOf(ctx, 'VM', ref)]);
  };

async function install(ctx: Ctx) {
  const name = requireParam(ctx.params, 'new-name-label');
  const tmpl =
    getParam(ctx.params, 'template') ??
    getParam(ctx.params, 'template-uuid') ??
    getParam(ctx.params, 'template-name') ??
    getParam(ctx.params, 'template-name-label');
  if (tmpl === undefined) throw CliError.missing('template');
  const vms = (await ctx.api.call(ctx.session, 'VM.get_all_records', [])) as Record<string, Row>;
  const matches = Object.entries(vms).filter(([, r]) => r.uuid === tmpl || r.name_label === tmpl);
  const templates = matches.filter(([, r]) => r.is_a_template);
  if (templates.length === 0) {
    if (matches.length > 0) throw new CliError('Can only install from templates');
    throw new CliError('No templates matched');
  }
  if (templates.length > 1) throw new CliError('More than one matching template found');
  const [tref] = templates[0];
  let srUuid = getParam(ctx.params, 'sr-uuid');
  const srName = getParam(ctx.params, 'sr-name-label');
  if (srUuid === undefined && srName !== undefined) {
    const srs = (await ctx.api.call(ctx.session, 'SR.get_all_records', [])) as Record<string, Row>;
    const hits = Object.values(srs).filter((s) => s.name_label === srName);
    if (hits.length === 0) throw new CliError('No SRs matched');
    if (hits.length > 1) throw new CliError('More than one SR matched. Please specify an SR uuid.');
    srUuid = String(hits[0].uuid);
  }
  const ref = srUuid
    ? await runAsync(ctx, 'VM.copy', [tref, name, await refOf(ctx, 'SR', srUuid)])
    : await runAsync(ctx, 'VM.clone', [tref, name]);
  await ctx.api.call(ctx.session, 'VM.set_name_description', [ref, 'Installed via xe CLI']);
  if (srUuid) {
    // Provisioning disks go to the chosen SR (the template's `disks` entries name an SR).
    const oc = (await ctx.api.call(ctx.session, 'VM.get_other_config', [ref])) as Record<string, string>;
    if (oc.disks) {
      const rewritten = oc.disks.replace(/sr="[^"]*"/g, `sr="${srUuid}"`);
      await ctx.api.call(ctx.session, 'VM.remove_from_other_config', [ref, 'disks']);
      await ctx.api.call(ctx.session, 'VM.add_to_other_config', [ref, 'disks', rewritten]);
    }
  }
  await runAsync(ctx, 'VM.provision', [ref]);
  // xapi's VM.provision turns the clone into a VM; make sure of it where a server does not.
  if (await ctx.api.call(ctx.session, 'VM.get_is_a_template', [ref]))
    await ctx.api.call(ctx.session, 'VM.set_is_a_template', [ref, false]);
  ctx.p.list([await uuidOf(ctx, 'VM', ref)]);
}

/** The disks vm-uninstall destroys: VDIs of VBDs marked `owner`, plus the suspend image. */
async function ownedVdis(ctx: Ctx, vm: Row): Promise<string[]> {
  const out: string[] = [];
  for (const vbd of (vm.VBDs as string[]) ?? []) {
    const r = await ctx.resolver.record('VBD', vbd);
    if (!r || r.empty || !('owner' in ((r.other_config as Record<string, string>) ?? {}))) continue;
    if (r.VDI && r.VDI !== 'OpaqueRef:NULL') out.push(String(r.VDI));
  }
  const suspend = String(vm.suspend_VDI ?? 'OpaqueRef:NULL');
  if (suspend !== 'OpaqueRef:NULL') out.push(suspend);
  return out;
}

const uninstall: VmOp = async (ctx, vm) => {
  if (vm.row.power_state !== 'Halted') {
    if (!boolParam(ctx.params, 'force'))
      throw new CliError('The VM must be halted before uninstalling. Use --force to shut it down first.');
    await runAsync(ctx, 'VM.hard_shutdown', [vm.ref]);
  }
  const vdis = await ownedVdis(ctx, vm.row);
  ctx.io.print('The following items are about to be destroyed');
  ctx.io.print(`VM : ${vm.row.uuid} (${vm.row.name_label})`);
  for (const vdi of vdis) {
    const r = await ctx.resolver.record('VDI', vdi);
    if (!r) continue;
    const shared = ((r.VBDs as string[]) ?? []).length > 1 ? ' ** WARNING: disk is shared by other VMs' : '';
    ctx.io.print(`VDI: ${r.uuid} (${r.name_label})${shared}`);
  }
  if (!boolParam(ctx.params, 'force')) {
    ctx.io.print("Type 'yes' to continue");
    const answer = await ctx.io.prompt();
    if (answer.trim().toLowerCase() !== 'yes') {
      ctx.io.print(`Aborted (you typed: '${answer}')`);
      return;
    }
  }
  await ctx.api.call(ctx.session, 'VM.destroy', [vm.ref]);
  for (const vdi of vdis) await ctx.api.call(ctx.session, 'VDI.destroy', [vdi]);
  ctx.io.print('All objects destroyed');
};

const vifList: VmOp = async (ctx, vm) => {
  const table: [string, string][][] = [];
  for (const vif of (vm.row.VIFs as string[]) ?? []) {
    const r = await ctx.resolver.record('VIF', vif);
    if (!r) continue;
    table.push([
      ['uuid ( RO)', String(r.uuid)],
      ['vm-name-label ( RO)', String(vm.row.name_label)],
      ['device ( RO)', String(r.device)],
      ['MAC ( RO)', String(r.MAC)],
      ['network-uuid ( RO)', await ctx.resolver.uuid('network', String(r.network))],
      ['network-name-label ( RO)', await ctx.resolver.name('network', String(r.network))],
    ]);
  }
  ctx.p.table(table);
};

const diskList: VmOp = async (ctx, vm) => {
  let disk = 0;
  let cd = 0;
  for (const vbd of (vm.row.VBDs as string[]) ?? []) {
    const r = await ctx.resolver.record('VBD', vbd);
    if (!r) continue;
    const isCd = r.type === 'CD';
    const label = isCd ? `CD ${cd++}` : `Disk ${disk++}`;
    if (isCd) continue;
    ctx.p.msg(`${label} VBD:`);
    ctx.p.table([
      [
        ['uuid ( RO)', String(r.uuid)],
        ['vm-name-label ( RO)', String(vm.row.name_label)],
        ['userdevice ( RW)', String(r.userdevice)],
      ],
    ]);
    const vdi = await ctx.resolver.record('VDI', String(r.VDI));
    if (!vdi) continue;
    ctx.p.msg(`${label} VDI:`);
    ctx.p.table([
      [
        ['uuid ( RO)', String(vdi.uuid)],
        ['name-label ( RW)', String(vdi.name_label)],
        ['sr-name-label ( RO)', await ctx.resolver.name('SR', String(vdi.SR))],
        ['virtual-size ( RO)', String(vdi.virtual_size)],
      ],
    ]);
  }
};

/**
 * xapi's create_vbd_and_plug: a VBD for `vdi`, then VBD.plug, whose failure (a halted VM) only
 * means the disk is attached at the next start.
 */
async function createVbdAndPlug(
  ctx: Ctx,
  vm: string,
  vdi: string,
  userdevice: string,
  mode: 'RW' | 'RO',
  type: 'Disk' | 'CD',
  otherConfig: Record<string, string>,
) {
  const vbd = await ctx.api.call(ctx.session, 'VBD.create', [
    {
      VM: vm,
      VDI: vdi,
      userdevice,
      bootable: false,
      mode,
      type,
      unpluggable: true,
      empty: false,
      other_config: otherConfig,
      qos_algorithm_type: '',
      qos_algorithm_params: {},
      device: '',
      currently_attached: false,
    },
  ]);
  await ctx.api.call(ctx.session, 'VBD.plug', [vbd]).catch(() => undefined);
}

/** vm-disk-add: a new VDI ("Created by xe") in sr-uuid or the pool's default SR, attached as `device`. */
const diskAdd: VmOp = async (ctx, vm) => {
  const size = parseSize('disk-size', requireParam(ctx.params, 'disk-size'));
  const device = requireParam(ctx.params, 'device');
  const srUuid = getParam(ctx.params, 'sr-uuid');
  let sr: string;
  if (srUuid !== undefined) sr = await refOf(ctx, 'SR', srUuid);
  else {
    const pools = (await ctx.api.call(ctx.session, 'pool.get_all', [])) as string[];
    sr = String(await ctx.api.call(ctx.session, 'pool.get_default_SR', [pools[0]]));
    if (sr === 'OpaqueRef:NULL')
      throw new CliError('No default Pool SR set; you must specify an SR on the commandline');
  }
  const vdi = String(
    await ctx.api.call(ctx.session, 'VDI.create', [
      {
        name_label: 'Created by xe',
        name_description: 'Created by xe',
        SR: sr,
        virtual_size: size,
        type: 'user',
        sharable: false,
        read_only: false,
        other_config: {},
        xenstore_data: {},
        sm_config: { vmhint: String(vm.row.uuid) },
        tags: [],
      },
    ]),
  );
  try {
    await createVbdAndPlug(ctx, vm.ref, vdi, device, 'RW', 'Disk', { owner: '' });
  } catch (e) {
    await ctx.api.call(ctx.session, 'VDI.destroy', [vdi]).catch(() => undefined);
    throw e;
  }
};

/** vm-disk-remove: the VBD with that userdevice goes, and its VDI with it. */
const diskRemove: VmOp = async (ctx, vm) => {
  const device = requireParam(ctx.params, 'device');
  for (const vbd of (vm.row.VBDs as string[]) ?? []) {
    const r = await ctx.resolver.record('VBD', vbd);
    if (!r || String(r.userdevice) !== device) continue;
    await ctx.api.call(ctx.session, 'VBD.destroy', [vbd]);
    await ctx.api.call(ctx.session, 'VDI.destroy', [String(r.VDI)]);
    return;
  }
  throw new CliError('Disk not found');
};

/** vm-cd-add: the ISO-library VDI named cd-name in a read-only CD drive at `device`. */
const cdAdd: VmOp = async (ctx, vm) => {
  const name = requireParam(ctx.params, 'cd-name');
  const vdis = (await ctx.api.call(ctx.session, 'VDI.get_by_name_label', [name])) as string[];
  let iso: string | undefined;
  for (const v of vdis) {
    const sr = String(await ctx.api.call(ctx.session, 'VDI.get_SR', [v]));
    if ((await ctx.api.call(ctx.session, 'SR.get_content_type', [sr])) === 'iso') {
      iso = v;
      break;
    }
  }
  if (!iso) throw new CliError(`CD ${name} not found!`);
  await createVbdAndPlug(ctx, vm.ref, iso, requireParam(ctx.params, 'device'), 'RO', 'CD', {});
};

const console_: VmOp = async (ctx, vm) => {
  const consoles = (vm.row.consoles as string[]) ?? [];
  let target: Row | null = null;
  for (const c of consoles) {
    const r = await ctx.resolver.record('console', c);
    if (r && r.protocol === 'vt100') target = r;
  }
  if (!target) throw new CliError('No text console available');
  ctx.io.print(`Connecting to console on VM ${vm.row.name_label}. Press Ctrl + ']' to quit.`);
  await ctx.io.httpConnect(`/console?uuid=${target.uuid}&session_id=${encodeURIComponent(ctx.session)}`);
};

/**
 * vm-migrate: storage and cross-pool migration (remote-master=, vdi:, vif: …) is VM.migrate_send,
 * not written yet here; a plain one runs on the selected VMs (control domains included, as xapi).
 */
function vmMigrateCommand(): CommandSpec {
  const spec = vmCommand('vm-migrate', migrate, { includeDom0: true });
  const run = spec.run;
  spec.run = async (ctx) => {
    const sxm = ctx.params
      .map(([k]) => k)
      .find((k) => SXM_PARAMS.some((p) => (p.endsWith(':') ? k.startsWith(p) : k === p)));
    if (sxm)
      throw new CliError(
        `vm-migrate with ${sxm} (storage or cross-pool migration, VM.migrate_send) is not supported by Berth yet`,
      );
    await run(ctx);
  };
  return spec;
}

export const VM_COMMANDS: CommandSpec[] = [
  vmCommand('vm-start', start, { includeDom0: true }),
  vmCommand('vm-shutdown', shutdown),
  vmCommand('vm-reboot', reboot),
  vmCommand('vm-suspend', (ctx, vm) => runAsync(ctx, 'VM.suspend', [vm.ref]).then(() => undefined)),
  vmCommand('vm-resume', resume),
  vmCommand('vm-pause', (ctx, vm) => runAsync(ctx, 'VM.pause', [vm.ref]).then(() => undefined)),
  vmCommand('vm-unpause', (ctx, vm) => runAsync(ctx, 'VM.unpause', [vm.ref]).then(() => undefined)),
  vmCommand('vm-reset-powerstate', async (ctx, vm) => {
    if (!boolParam(ctx.params, 'force'))
      throw new CliError(
        'This operation is dangerous and may cause data loss. This operation must be forced (use --force).',
      );
    await ctx.api.call(ctx.session, 'VM.power_state_reset', [vm.ref]);
  }),
  vmMigrateCommand(),
  vmCommand('vm-clone', copyLike('VM.clone'), { includeTemplates: true, single: true }),
  vmCommand('vm-copy', copyLike('VM.copy'), { includeTemplates: true, single: true }),
  vmCommand('vm-snapshot', copyLike('VM.snapshot'), { single: true }),
  vmCommand('vm-checkpoint', copyLike('VM.checkpoint'), { single: true }),
  vmCommand('vm-uninstall', uninstall),
  vmCommand('vm-vif-list', vifList),
  vmCommand('vm-disk-list', diskList),
  vmCommand('vm-disk-add', diskAdd),
  vmCommand('vm-disk-remove', diskRemove),
  vmCommand('vm-cd-add', cdAdd),
  vmCommand('console', console_, { includeDom0: true, single: true }),
  command('vm-install', install),
  command('vm-destroy', async (ctx) => {
    await ctx.api.call(ctx.session, 'VM.destroy', [await refOf(ctx, 'VM', requireParam(ctx.params, 'uuid'))]);
  }),
  command('template-uninstall', async (ctx) => {
    const ref = await refOf(ctx, 'VM', requireParam(ctx.params, 'template-uuid'));
    const row = (await ctx.api.call(ctx.session, 'VM.get_record', [ref])) as Row;
    if (!row.is_a_template) throw new CliError('Can only uninstall templates');
    await uninstall(ctx, { ref, row, fields: [] });
  }),
  command('vm-memory-set', async (ctx) => {
    const vms = await select(ctx, { kind: 'vm', own: ['memory'] });
    const value = parseSize('memory', requireParam(ctx.params, 'memory'));
    await doMultiple(ctx, vms, 'vm', async (vm) => {
      await callNamed(ctx, 'VM.set_memory', { self: vm.ref, value });
    });
  }),
];
