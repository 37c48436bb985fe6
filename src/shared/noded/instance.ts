// The instance types the manager and the host agent exchange (JSON over the agent RPC).

export type InstanceState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'suspended' | 'absent';

/** What the agent needs to start a VM. */
export interface InstanceSpec {
  uuid: string;
  name: string;
  vcpus: number;
  vcpusMax: number;
  memoryBytes: number;
  memoryMaxBytes: number;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  disks: { path: string; format: 'qcow2' | 'raw'; readonly: boolean; device: string; cdrom?: boolean }[];
  /** `tap`: the TAP device the network layer created for the VIF (QEMU only opens it). */
  nics: { mac: string; bridge: string; device: string; mtu?: number; tap?: string }[];
  balloon: boolean;
  startPaused: boolean;
}

export interface InstanceInfo {
  uuid: string;
  state: InstanceState;
  pid?: number;
  vcpus?: number;
  memoryBytes?: number;
  startedAt?: number;
  vncSocket?: string;
  serialSocket?: string;
  consoleLog?: string;
}

export interface InstanceEvent {
  uuid: string;
  state: InstanceState;
  /** Why: 'guest-poweroff', 'guest-reset', 'qemu-exited', 'adopted', … */
  reason?: string;
}
