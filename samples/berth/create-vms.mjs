// Creates a bunch of VMs, skipping those that exist (oVirtCmd's README sample, in Berth terms):
//   berth eval samples/berth/create-vms.mjs
//   berth eval -e vms.yaml -v sr 'Local storage' samples/berth/create-vms.mjs
// Each VM is cloned from a template (variable `template`, default "Other install media"), given
// its memory (sizes such as 24G, read with parseSize) and vCPUs, a system disk on the SR
// (variable `sr`, default the pool's default SR) and a NIC on the network (variable `network`,
// default the network of the pool master's management interface). The list may come from an
// environment file: `vms: [{name: vm1, memory: 24G, cores: 12, disk: 16G}, …]`.
const DEFAULT_VMS = [
  { name: 'vm1', memory: '24G', cores: 12, disk: '16G' },
  { name: 'vm2', memory: '24G', cores: 12, disk: '16G' },
  { name: 'vm3', memory: '64G', cores: 16, disk: '16G' },
  { name: 'vm4', memory: '16G', cores: 2, disk: '16G' },
  { name: 'vm5', memory: '16G', cores: 8, disk: '16G' },
  { name: 'vm6', memory: '16G', cores: 8, disk: '16G' },
];

export default async function ({ context, variables, parseSize, NotFoundError, print }) {
  const template = await context.templates.get(variables.template ?? 'Other install media');
  const [pool] = await context.pools.list();
  const sr = variables.sr ? await context.srs.get(variables.sr) : await pool.follow('default_SR');
  let network;
  if (variables.network) network = await context.networks.get(variables.network);
  else {
    const master = await pool.follow('master');
    const management = (await master.PIFs.list()).find((pif) => pif.management);
    network = management ? await management.follow('network') : undefined;
  }

  const vms = {};
  for (const { name, memory, cores, disk } of variables.vms ?? DEFAULT_VMS) {
    try {
      vms[name] = await context.vms.get(name);
      print(`${name} exists, skipped`);
      continue;
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
    const vm = await context.vms.get(await template.clone(name));
    await vm.set_is_a_template(false);
    const bytes = parseSize(String(memory));
    await vm.set_memory_limits(bytes, bytes, bytes, bytes);
    await vm.set_VCPUs_max(Number(cores));
    await vm.set_VCPUs_at_startup(Number(cores));
    const sys = await context.vdis.add({
      name_label: `${name}_sys`,
      SR: sr.ref,
      virtual_size: parseSize(String(disk)),
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
    });
    // A sub-collection fills in the field pointing back to its parent (the VBD's VM).
    await vm.VBDs.add({
      VDI: sys.ref,
      userdevice: '0',
      bootable: true,
      mode: 'RW',
      type: 'Disk',
      empty: false,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    });
    if (network)
      await vm.VIFs.add({
        device: '0',
        network: network.ref,
        MAC: '',
        MTU: 1500,
        other_config: {},
        qos_algorithm_type: '',
        qos_algorithm_params: {},
      });
    vms[name] = await vm.refresh();
    print(`${name} created ${vm.uuid}`);
  }
  return 0;
}
