// What the manager needs from a host agent to run VMs. The production implementation speaks
// the agent's noded-style RPC (agent-client.ts); the interface keeps VM operations testable and
// leaves room for remote agents in multi-host pools.

export type InstanceState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'suspended' | 'absent';

/** What the agent needs to start a VM (built from the VM record by vm/spec.ts). */
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
  nics: { mac: string; bridge: string; device: string; mtu?: number }[];
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
}

export interface InstanceEvent {
  uuid: string;
  state: InstanceState;
  /** Why: 'guest-poweroff', 'guest-reboot', 'qemu-died', … */
  reason?: string;
}

export interface HostAgent {
  readonly connected: boolean;
  version(): Promise<unknown>;
  start(spec: InstanceSpec): Promise<InstanceInfo>;
  /** Clean (ACPI) or hard shutdown; clean gives up after timeoutMs with VM_SHUTDOWN_TIMEOUT-like errors. */
  shutdown(uuid: string, clean: boolean, timeoutMs: number): Promise<void>;
  reboot(uuid: string, clean: boolean, timeoutMs: number): Promise<void>;
  pause(uuid: string): Promise<void>;
  unpause(uuid: string): Promise<void>;
  suspend(uuid: string, path: string): Promise<void>;
  resume(spec: InstanceSpec, path: string): Promise<InstanceInfo>;
  balloon(uuid: string, bytes: number): Promise<void>;
  info(uuid: string): Promise<InstanceInfo>;
  all(): Promise<InstanceInfo[]>;
  callPlugin(plugin: string, fn: string, args: Record<string, string>): Promise<string>;
  /** State changes pushed by the agent; `reconnected` fires after every (re)connection. */
  onEvent(listener: (e: InstanceEvent) => void): void;
  onReconnect(listener: () => void): void;
  close(): void;
}
