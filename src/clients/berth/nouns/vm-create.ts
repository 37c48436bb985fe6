// `berth vm create`: oVirtCmd's vm create over XenAPI. The VM is cloned from a template (default
// "Other install media", Berth's empty install-from-media template, the closest to oVirt's
// Blank) and provisioned as `xe vm-install` does, then memory, vCPUs, boot order, disks (first
// one bootable, `<vm>_sys`) and NICs are set from the options (a YAML template's keys merged in
// by the runner, CLI options winning). A failure part-way removes what was made.
import type { Api, ApiObject } from '../api.js';
import { CliError, EXIT_USAGE, notFoundError } from '../errors.js';
import { parseSize } from '../size.js';
import type { OptionSpec, VerbContext, VerbSpec } from '../spec.js';
import { defaultSr, optList, optText, refOf } from './compute-common.js';
import { addVif, attachVdi, createVdi, parseDiskSpec } from './vm-device-ops.js';

export const DEFAULT_TEMPLATE = 'Other install media';

const OPTIONS: OptionSpec[] = [
  { short: 'n', long: 'name', kind: 'value', help: 'name of the new VM', metavar: 'NAME' },
  { short: 'm', long: 'memory', kind: 'value', help: 'memory size (2G, 512M)', metavar: 'SIZE' },
  {
    // Not `--template`: that is the YAML file's (-T) in every verb taking one.
    short: 't',
    long: 'base_template',
    kind: 'value',
    help: `XenAPI template to clone (name or uuid; default "${DEFAULT_TEMPLATE}")`,
    metavar: 'TEMPLATE',
  },
  { long: 'cpu', kind: 'value', help: 'number of vCPUs', metavar: 'N' },
  {
    long: 'ostype',
    kind: 'value',
    help: 'operating system type, kept in other_config:ostype',
    metavar: 'OS',
  },
  { long: 'network', kind: 'value', repeat: true, help: 'a NIC on this network', metavar: 'NET' },
  { long: 'storage_domain', kind: 'value', help: 'SR of the new disks (oVirt name of --sr)', metavar: 'SR' },
  { long: 'sr', kind: 'value', help: 'SR of the new disks (default: the pool default SR)', metavar: 'SR' },
  {
    long: 'disk',
    kind: 'value',
    repeat: true,
    help: 'SIZE[,SUFFIX[,SR]] for a new disk or an existing VDI uuid (the first boots)',
    metavar: 'DISK',
  },
  { long: 'nopxe', kind: 'flag', help: 'no network boot after the disk' },
];

/** vCPUs from `--cpu N` or a template's `cpu: {topology: {sockets, cores, threads}}`. */
export function vcpuCount(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  let n: number;
  if (typeof v === 'object' && !Array.isArray(v)) {
    const topo = ((v as Record<string, unknown>).topology ?? v) as Record<string, unknown>;
    n = ['sockets', 'cores', 'threads'].reduce(
      (acc, k) => acc * (topo[k] === undefined ? 1 : Number(topo[k])),
      1,
    );
  } else n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError(`invalid cpu count '${JSON.stringify(v)}'`, EXIT_USAGE);
  return n;
}

/** The boot order of a BIOS-order HVM VM: disk, the template's CD if it had one, network unless --nopxe. */
export function bootOrder(templateOrder: string, pxe: boolean): string {
  return `c${templateOrder.includes('d') ? 'd' : ''}${pxe ? 'n' : ''}`;
}

async function templateRef(api: Api, name: string): Promise<string> {
  const ref = await refOf(api, 'VM', name, 'template').catch((e) => {
    if (e instanceof CliError && e.exitCode !== EXIT_USAGE)
      throw notFoundError(`no template found matching '${name}'`);
    throw e;
  });
  if (!(await api.call('VM.get_is_a_template', ref)))
    throw notFoundError(`no template found matching '${name}'`);
  return ref;
}

async function setMemory(api: Api, vm: string, bytes: number): Promise<void> {
  const staticMin = Number(await api.call('VM.get_memory_static_min', vm));
  await api.call('VM.set_memory_limits', vm, Math.min(staticMin, bytes), bytes, bytes, bytes);
}

async function setVcpus(api: Api, vm: string, n: number): Promise<void> {
  const max = Number(await api.call('VM.get_VCPUs_max', vm));
  // at_startup <= max at every step.
  if (n >= max) {
    await api.call('VM.set_VCPUs_max', vm, n);
    await api.call('VM.set_VCPUs_at_startup', vm, n);
  } else {
    await api.call('VM.set_VCPUs_at_startup', vm, n);
    await api.call('VM.set_VCPUs_max', vm, n);
  }
}

async function create(ctx: VerbContext): Promise<ApiObject> {
  const { api, opts } = ctx;
  const name = optText(opts, 'name');
  if (!name) throw new CliError('vm create needs a name (-n NAME)', EXIT_USAGE);
  // Everything is checked before anything is made.
  const memory = opts.memory === undefined ? undefined : parseSize(opts.memory as string | number);
  if (memory !== undefined && memory <= 0)
    throw new CliError(`invalid memory size '${opts.memory}'`, EXIT_USAGE);
  const cpus = vcpuCount(opts.cpu);
  // Each disk a string (`16G,sys`) or, from a YAML template, a list ([16G, sys]).
  const rawDisks =
    opts.disk === undefined || opts.disk === null ? [] : Array.isArray(opts.disk) ? opts.disk : [opts.disk];
  const disks = rawDisks
    .filter((d) => d !== '' && d !== null)
    .map((d) => parseDiskSpec(Array.isArray(d) ? d : String(d)));
  // A YAML template may name it `template:` (the seed's key) or `base_template:`.
  const tmpl = await templateRef(
    api,
    optText(opts, 'base_template') ?? optText(opts, 'template') ?? DEFAULT_TEMPLATE,
  );
  const srName = optText(opts, 'sr') ?? optText(opts, 'storage_domain');
  const sr = disks.some((d) => d.kind === 'new')
    ? srName
      ? await refOf(api, 'SR', srName)
      : await defaultSr(api)
    : '';
  const diskSrs = await Promise.all(
    disks.map((d) => (d.kind === 'new' && d.sr ? refOf(api, 'SR', d.sr) : Promise.resolve(sr))),
  );
  const existing = await Promise.all(
    disks.map((d) => (d.kind === 'existing' ? refOf(api, 'VDI', d.vdi, 'VDI') : Promise.resolve(''))),
  );
  const networks = await Promise.all(optList(opts, 'network').map((n) => refOf(api, 'network', n)));

  const vm = (await api.call('VM.clone', tmpl, name)) as string;
  const made: string[] = [];
  try {
    await api.call('VM.provision', vm);
    await api.call('VM.set_is_a_template', vm, false);
    const ostype = optText(opts, 'ostype');
    if (ostype) {
      await api.call('VM.remove_from_other_config', vm, 'ostype');
      await api.call('VM.add_to_other_config', vm, 'ostype', ostype);
    }
    if ((await api.call('VM.get_HVM_boot_policy', vm)) === 'BIOS order') {
      const params = (await api.call('VM.get_HVM_boot_params', vm)) as Record<string, string>;
      const pxe = !opts.nopxe && opts.boot_pxe !== false;
      await api.call('VM.set_HVM_boot_params', vm, { ...params, order: bootOrder(params.order ?? '', pxe) });
    }
    let numbered = 0;
    for (const [i, d] of disks.entries()) {
      let vdi: string;
      if (d.kind === 'new') {
        const suffix = d.suffix ?? (i === 0 ? 'sys' : String(numbered++));
        vdi = await createVdi(api, { sr: diskSrs[i], size: d.size, name: `${name}_${suffix}` });
        made.push(vdi);
      } else vdi = existing[i];
      await attachVdi(api, vm, vdi, i === 0);
    }
    for (const net of networks) await addVif(api, vm, net);
    // Sizes last: the manager's limits (VALUE_NOT_SUPPORTED…) then undo the devices too.
    if (memory !== undefined) await setMemory(api, vm, memory);
    if (cpus !== undefined) await setVcpus(api, vm, cpus);
  } catch (e) {
    await api.call('VM.destroy', vm).catch(() => undefined);
    for (const vdi of made) await api.call('VDI.destroy', vdi).catch(() => undefined);
    throw e;
  }
  return api.byRef('VM', vm);
}

export function vmCreateVerb(): VerbSpec {
  return {
    name: 'create',
    summary: 'create a VM from a template, with memory, vCPUs, disks and NICs',
    target: 'none',
    usesTemplate: true,
    options: OPTIONS,
    examples: [
      'berth vm create -n web01 -m 2G --cpu 2 --disk 16G --network lan',
      'berth vm create -T samples/berth/vm_create.yaml -V cores 4 -V sr default -n web02 -m 2G',
    ],
    run: (ctx) => create(ctx),
  };
}
