// The instance types the manager and the host agent exchange (JSON over the agent RPC).
// docs/agent.md documents every field; keep the two in step.

export type InstanceState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'suspended' | 'absent';

export interface DiskSpec {
  /** Image file or block device (absolute). Empty for an empty CD drive. */
  path: string;
  format: 'qcow2' | 'raw';
  readonly: boolean;
  /** VBD userdevice ("0", "1", …) or name ("xvda"): becomes the QEMU device id `vbd-<device>`. */
  device: string;
  cdrom?: boolean;
  /** Boot from this disk first (BIOS boot order). */
  bootable?: boolean;
}

export interface NicSpec {
  mac: string;
  /** The bridge the network layer attached the TAP to (informational for the QEMU driver). */
  bridge: string;
  /** VIF device number ("0", "1", …): becomes the QEMU device id `vif-<device>`. */
  device: string;
  mtu?: number;
  /** The TAP device the network layer created for the VIF (QEMU only opens it by name). */
  tap?: string;
}

/** Ganeti's hotplug actions (hotmod: a CD drive's medium) and device types. */
export type HotplugAction = 'hotadd' | 'hotremove' | 'hotmod';
export type HotplugDevType = 'disk' | 'nic';

/** What the agent needs to start a VM. */
export interface InstanceSpec {
  uuid: string;
  name: string;
  vcpus: number;
  vcpusMax: number;
  memoryBytes: number;
  memoryMaxBytes: number;
  /** Direct kernel boot (absolute paths on the host) */
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  disks: DiskSpec[];
  nics: NicSpec[];
  /** Adds a virtio-balloon device (needed for instance_balloon_memory). */
  balloon: boolean;
  startPaused: boolean;
  /** Graphical console: VNC on a Unix socket in the runtime dir (default), on 127.0.0.1, or none. */
  vnc?: 'unix' | 'localhost' | 'none';
}

export interface InstanceInfo {
  uuid: string;
  state: InstanceState;
  pid?: number;
  vcpus?: number;
  memoryBytes?: number;
  /** Milliseconds since the epoch when QEMU was started (or adopted: when first seen). */
  startedAt?: number;
  vncSocket?: string;
  /** TCP port on 127.0.0.1 when spec.vnc is 'localhost'. */
  vncPort?: number;
  serialSocket?: string;
  consoleLog?: string;
}

export interface InstanceEvent {
  uuid: string;
  state: InstanceState;
  /**
   * Why: 'started', 'paused', 'resumed', 'guest-reset', 'host-reset', 'guest-shutdown',
   * 'stopped' (by the agent), 'suspended', 'guest-panic', 'qemu-exited' (QEMU died without a
   * shutdown request), 'qemu-died-while-agent-was-down'.
   */
  reason?: string;
}
