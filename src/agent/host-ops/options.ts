// What the host operations may touch and run (docs/host-operations.md). Every path and program
// is fixed by the agent's options, never by the caller: the RPC names one of them at most.
import { join } from 'node:path';

export interface HostOpsOptions {
  /** Ganeti's /etc/ganeti/restricted-commands (default /etc/berth/restricted-commands). */
  restrictedCommandsDir?: string;
  /** Seconds a restricted command may run (default 300). */
  restrictedCommandTimeoutSec?: number;
  /** Seconds a refused restricted command holds the lock before failing (Ganeti: 10). */
  restrictedCommandFailDelaySec?: number;
  /** Absolute paths of the OOB programs run_oob may run (default: none). */
  oobPrograms?: string[];
  /**
   * Argument array run by node_powercycle (5 s after answering). Absent: node_powercycle is
   * refused. Production: ['systemctl', 'reboot', '--force']; tests: a harmless stand-in.
   */
  powercycleCommand?: string[];
  /** Argument arrays run by host_power_action (absent: refused). */
  rebootCommand?: string[];
  shutdownCommand?: string[];
  /** Seconds between answering node_powercycle/host_power_action and running the command (5). */
  powerDelaySec?: number;
  /** Paths upload_file may write (default DEFAULT_UPLOAD_FILES under the agent's state root). */
  uploadFiles?: string[];
  /** Largest upload in bytes (default 16 MiB). */
  uploadMaxBytes?: number;
  /** The hosts file etc_hosts_modify edits (default /etc/hosts). */
  hostsFile?: string;
  /** Where x509_cert_create keeps its certificates (default <run root>/crypto). */
  x509Dir?: string;
  /** Roots get_file_info and node_verify's filelist may read under (default: none beyond uploadFiles). */
  fileInfoRoots?: string[];
  /** The interface whose broadcast address wake_on_lan sends to by default. */
  wolInterface?: string;
  /** Storage roots node_verify reports (default: the agent's SR root). */
  storageRoots?: string[];
}

/** The options with every default filled in. */
export interface HostOpsConfig {
  restrictedCommandsDir: string;
  restrictedCommandTimeoutMs: number;
  restrictedCommandFailDelayMs: number;
  oobPrograms: string[];
  powercycleCommand: string[] | null;
  rebootCommand: string[] | null;
  shutdownCommand: string[] | null;
  powerDelayMs: number;
  uploadFiles: string[];
  uploadMaxBytes: number;
  hostsFile: string;
  x509Dir: string;
  fileInfoRoots: string[];
  wolInterface: string | null;
  storageRoots: string[];
  /** The network namespace of the host's networking (bridges live there), or null. */
  netns: string | null;
  /** The agent's instance list, for node_verify. */
  instanceList: () => string[];
}

/**
 * Berth's _ALLOWED_UPLOAD_FILES: what a master pushes to its members. The hosts file (when the
 * pool manages it) and the pool's shared secrets kept by the agent; never the PKI (tls_install
 * owns it) nor anything executable.
 */
export function defaultUploadFiles(stateRoot: string, hostsFile: string): string[] {
  return [
    hostsFile,
    join(stateRoot, 'pool', 'known_hosts'),
    join(stateRoot, 'pool', 'vnc-password'),
    join(stateRoot, 'pool', 'cluster-domain-secret'),
  ];
}

export function hostOpsConfig(
  opts: HostOpsOptions,
  roots: { stateRoot: string; runRoot: string; srRoot: string; netns?: string },
  instanceList: () => string[],
): HostOpsConfig {
  const hostsFile = opts.hostsFile ?? '/etc/hosts';
  const uploadFiles = opts.uploadFiles ?? defaultUploadFiles(roots.stateRoot, hostsFile);
  return {
    restrictedCommandsDir: opts.restrictedCommandsDir ?? '/etc/berth/restricted-commands',
    restrictedCommandTimeoutMs: (opts.restrictedCommandTimeoutSec ?? 300) * 1000,
    restrictedCommandFailDelayMs: (opts.restrictedCommandFailDelaySec ?? 10) * 1000,
    oobPrograms: opts.oobPrograms ?? [],
    powercycleCommand: opts.powercycleCommand ?? null,
    rebootCommand: opts.rebootCommand ?? null,
    shutdownCommand: opts.shutdownCommand ?? null,
    powerDelayMs: (opts.powerDelaySec ?? 5) * 1000,
    uploadFiles,
    uploadMaxBytes: opts.uploadMaxBytes ?? 16 * 1024 * 1024,
    hostsFile,
    x509Dir: opts.x509Dir ?? join(roots.runRoot, 'crypto'),
    fileInfoRoots: opts.fileInfoRoots ?? [],
    wolInterface: opts.wolInterface ?? null,
    storageRoots: opts.storageRoots ?? [roots.srRoot],
    netns: roots.netns ?? null,
    instanceList,
  };
}
