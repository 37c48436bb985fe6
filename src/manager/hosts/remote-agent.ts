// The client of another pool member's agent: TCP (port 1811) with mutual TLS, this host's pool
// certificate as client certificate, the member's uuid pinned as the agent certificate's CN.
import { AGENT_TCP_PORT, tcpTransport } from '../../shared/noded/transport.js';
import { loadTlsMaterial } from '../../shared/pki/pool-pki.js';
import { NodedAgentClient } from './host-client.js';

/** A client of the agent of host `hostUuid` at `address`, authenticated with `pkiDir`'s certificate. */
export function remoteAgentClient(
  pkiDir: string,
  address: string,
  hostUuid: string,
  port = AGENT_TCP_PORT,
): NodedAgentClient {
  return new NodedAgentClient(tcpTransport(address, loadTlsMaterial(pkiDir), hostUuid, port));
}
