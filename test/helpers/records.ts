// Records for the XenAPI `create` calls tests make again and again: a user VDI, the VBD that
// puts it in a VM, and a VIF. Each takes overrides, so a test spells out only the fields it is
// about.

/** A `VDI.create` record: a user disk of `size` bytes in `sr`, not shared, writable. */
export function vdiRecord(sr: string, size: number, fields: Record<string, unknown> = {}) {
  return {
    SR: sr,
    virtual_size: size,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'disk',
    ...fields,
  };
}

/** A `VBD.create` record: `vdi` as `vm`'s writable boot disk 0, unless `fields` say otherwise. */
export function vbdRecord(vm: string, vdi: string, fields: Record<string, unknown> = {}) {
  return {
    VM: vm,
    VDI: vdi,
    userdevice: '0',
    bootable: true,
    mode: 'RW',
    type: 'Disk',
    empty: false,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
    ...fields,
  };
}

/** A `VIF.create` record: `vm`'s device 0 on `network`, MAC chosen by the manager. */
export function vifRecord(vm: string, network: string, fields: Record<string, unknown> = {}) {
  return {
    device: '0',
    network,
    VM: vm,
    MAC: '',
    MTU: 1500,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
    ...fields,
  };
}
