// What the migration procedures work with: the agent's VMs and its pool certificates.
import type { Owner } from '../qemu/dac.js';
import type { QemuVm } from '../qemu/vm-process.js';
import { type InstanceManager, qemuOwner } from '../instances.js';

export interface MigrationContext {
  vms: InstanceManager;
  /** The agent's pool certificates (pool-pki.ts layout); TLS migrations need them. */
  pkiDir?: string;
}

/** The user a VM's QEMU runs as after its drop (undefined: root). */
export function qemuUser(ctx: MigrationContext, vm: QemuVm): Owner | undefined {
  return vm.identity ?? qemuOwner(ctx.vms.opts.runAs);
}

/** A URI host part: IPv6 literals in brackets (pure). */
export const uriHost = (address: string) => (address.includes(':') ? `[${address}]` : address);
