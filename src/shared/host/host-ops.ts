// The host operations' part of the host contract (issue 18 items 5-7), after Ganeti's node daemon
// (reference: ../shared/reference/ganeti-noded.md §2, §5, §6): verification of a host
// (node_verify), out-of-band power (run_oob), power actions of the host itself (node_powercycle,
// host_power_action), restricted commands, upload_file, etc_hosts_modify, X.509 certificates,
// get_file_info, and a wake-on-lan sender. Everything that runs a program or touches a path is
// confined by the agent's options (src/agent/host-ops/options.ts): allow-lists, argument arrays,
// time limits (docs/host-operations.md).
//
// Failures: a refused argument (outside an allow-list, a bad name) is INVALID_VALUE [name, value];
// a procedure that ran and failed is NODE_PROCEDURE_FAILED [procedure, message] carrying Ganeti's
// message where it has one ("Executing command 'x' failed").

/** What node_verify checks (Ganeti's `what` keys that mean something on a QEMU host). */
export interface NodeVerifyRequest {
  /** The QEMU binary: present, its version, the accelerators it may use. */
  hypervisor?: boolean;
  /** Paths whose SHA-1 the agent reports (each must lie in the agent's verify file allow-list). */
  filelist?: string[];
  /** Bridges that must exist; the report lists the missing ones. */
  bridges?: string[];
  /** The storage roots and volume groups with their free space. */
  storage?: boolean;
  /** The node's clock, for the master's drift check. */
  time?: boolean;
  /** Other members' agents to reach by TCP (Ganeti's TCP ping to the noded port). */
  'node-net-test'?: { name: string; address: string; port: number }[];
  /** The instances this agent runs. */
  instancelist?: boolean;
  /** Protocol and release versions. */
  version?: boolean;
  /** Paths that must be executable (hook and OS scripts): the report lists the ones that are not. */
  'user-scripts'?: string[];
}

export interface HypervisorReport {
  /** null: usable; otherwise why not (binary missing...). */
  error: string | null;
  binary: string;
  version: string | null;
  /** Accelerators usable here, `kvm` only if /dev/kvm opens. */
  accel: string[];
}

export interface StorageReport {
  /** Storage roots (SR directories): total and free bytes, or the error reading them. */
  roots: { path: string; size: number | null; free: number | null; error: string | null }[];
  /** LVM volume groups: size and free MiB (empty when LVM tools are absent). */
  vgs: { name: string; size_mib: number; free_mib: number }[];
}

export interface NodeVerifyReport {
  hypervisor?: HypervisorReport;
  /** path → sha1 hex, or null when the file is absent/unreadable. */
  filelist?: Record<string, string | null>;
  /** Bridges asked for that do not exist. */
  bridges?: string[];
  storage?: StorageReport;
  /** [seconds, microseconds] as Ganeti's. */
  time?: [number, number];
  /** node name → failure text; a reachable node is absent. */
  'node-net-test'?: Record<string, string>;
  instancelist?: string[];
  /** [protocol_version, release_version]. */
  version?: [number, string];
  /** Scripts asked for that are not executable regular files, with the reason. */
  'user-scripts'?: Record<string, string>;
}

/** Ganeti's OOB commands. */
export const OOB_COMMANDS = ['power-on', 'power-off', 'power-cycle', 'power-status', 'health'] as const;
export type OobCommand = (typeof OOB_COMMANDS)[number];

/** get_file_info's answer: null when the path does not exist. */
export interface FileInfo {
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  kind: 'file' | 'directory' | 'other';
}

export type HostPowerAction = 'reboot' | 'shutdown';

export interface HostOpsProcedures {
  /** The checks of `what` (keys absent from the request are absent from the report). */
  node_verify(what: NodeVerifyRequest): Promise<NodeVerifyReport>;
  /**
   * Runs an allow-listed OOB program `<program> <command> <node>` within `timeoutSec`: its stdout
   * parsed as JSON (empty → null). Non-zero exit: "OOB program '<p>' failed: <reason>; output: …".
   */
  run_oob(program: string, command: OobCommand, node: string, timeoutSec: number): Promise<unknown>;
  /**
   * Reboots this host through the agent's powercycle command, 5 s after answering "Reboot
   * scheduled in 5 seconds"; refused unless the agent was given one.
   */
  node_powercycle(): Promise<string>;
  /** host.reboot / host.shutdown's last step on the host: the agent's configured command. */
  host_power_action(action: HostPowerAction): Promise<string>;
  /** Ganeti's RunRestrictedCmd (§6): combined output of `<dir>/<name>`. */
  restricted_command(name: string): Promise<string>;
  /**
   * Writes `data` (base64) atomically to an allow-listed absolute path with mode, owner (uid/gid
   * numbers or user/group names) and times (seconds).
   */
  upload_file(
    path: string,
    data: string,
    mode: number,
    uid: number | string,
    gid: number | string,
    atime: number,
    mtime: number,
  ): Promise<void>;
  /** Adds (`add`, ip required) or removes every line naming `host` in the agent's hosts file. */
  etc_hosts_modify(mode: 'add' | 'remove', host: string, ip: string | null): Promise<boolean>;
  /** A self-signed certificate valid `validity` seconds (capped at 7 days): [name, cert_pem]. */
  x509_cert_create(validity: number): Promise<[string, string]>;
  x509_cert_remove(name: string): Promise<void>;
  /** stat of an allow-listed path; null when absent. */
  get_file_info(path: string): Promise<FileInfo | null>;
  /**
   * Sends a wake-on-lan magic packet for `mac` as UDP broadcast: to `address` (default: the
   * broadcast address of the agent's configured interface, else 255.255.255.255) port `port` (9).
   */
  wake_on_lan(
    mac: string,
    address: string | null,
    port: number | null,
  ): Promise<{ address: string; port: number }>;
}

export type HostOpsProcedureName = keyof HostOpsProcedures;

export const HOST_OPS_PROCEDURES = [
  'node_verify',
  'run_oob',
  'node_powercycle',
  'host_power_action',
  'restricted_command',
  'upload_file',
  'etc_hosts_modify',
  'x509_cert_create',
  'x509_cert_remove',
  'get_file_info',
  'wake_on_lan',
] as const satisfies readonly HostOpsProcedureName[];

type Unlisted = Exclude<HostOpsProcedureName, (typeof HOST_OPS_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** The host operation procedures over an agent RPC `call` (the manager's client of a host's agent). */
export function hostOpsClient(
  call: (procedure: string, args: unknown[]) => Promise<unknown>,
): HostOpsProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of HOST_OPS_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as HostOpsProcedures;
}
