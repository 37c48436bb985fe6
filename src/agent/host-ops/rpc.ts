// The host operation procedures as the agent serves them (src/shared/host/host-ops.ts). The RPC is
// a trust boundary: every argument is checked by the function it reaches.
import type { HostOpsProcedureName } from '../../shared/host/host-ops.js';
import type { Procedure } from '../server.js';
import { etcHostsModify } from './etc-hosts.js';
import { getFileInfo } from './file-info.js';
import { runOob } from './oob.js';
import type { HostOpsConfig } from './options.js';
import { HostPower } from './power.js';
import { RestrictedCommands } from './restricted.js';
import { uploadFile } from './upload.js';
import { nodeVerify } from './verify.js';
import { wakeOnLan } from './wol.js';
import { x509CertCreate, x509CertRemove } from './x509.js';

export interface HostOps {
  procedures: Record<HostOpsProcedureName, Procedure>;
  /** Cancels scheduled power actions. */
  close(): void;
}

export function hostOpsProcedures(cfg: HostOpsConfig): HostOps {
  const restricted = new RestrictedCommands(cfg);
  const power = new HostPower(cfg);
  return {
    close: () => power.close(),
    procedures: {
      node_verify: (what: unknown) => nodeVerify(cfg, what),
      run_oob: (program: unknown, command: unknown, node: unknown, timeout: unknown) =>
        runOob(cfg, program, command, node, timeout),
      node_powercycle: () => power.powercycle(),
      host_power_action: (action: unknown) => power.action(action),
      restricted_command: (name: unknown) => restricted.run(name),
      upload_file: (
        path: unknown,
        data: unknown,
        mode: unknown,
        uid: unknown,
        gid: unknown,
        atime: unknown,
        mtime: unknown,
      ) => uploadFile(cfg, path, data, mode, uid, gid, atime, mtime),
      etc_hosts_modify: (mode: unknown, host: unknown, ip: unknown) => etcHostsModify(cfg, mode, host, ip),
      x509_cert_create: (validity: unknown) => x509CertCreate(cfg, validity),
      x509_cert_remove: (name: unknown) => x509CertRemove(cfg, name),
      get_file_info: (path: unknown) => getFileInfo(cfg, path),
      wake_on_lan: (mac: unknown, address: unknown, port: unknown) => wakeOnLan(cfg, mac, address, port),
    },
  };
}
