// The pool's certificates from the manager's side (files: src/shared/pki/pool-pki.ts). A master
// makes sure its host has a certificate (a standalone host is a pool of one) and hands it to its
// agent; at a join it issues the joining host's certificate and sends it with the pool CA; the
// joining host installs them for itself and its agent; an ejected host starts a CA of its own.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger } from '../../shared/log.js';
import {
  createPoolCa,
  ensureHostPki,
  hasTlsMaterial,
  installPoolCredentials,
  issueHostCert,
  loadPoolCredentials,
  type PoolCredentials,
} from '../../shared/pki/pool-pki.js';
import { AGENT_TCP_PORT } from '../../shared/noded/transport.js';
import type { Row } from '../db/database.js';
import { remoteAgentClient } from '../hosts/remote-agent.js';
import type { HostAgent } from '../vm/host-agent.js';
import type { HostConnector } from './members.js';
import { offlineConnector } from './members.js';

const log = logger('pool-pki');

export class PoolPki {
  constructor(
    readonly dir: string,
    readonly agentPort = AGENT_TCP_PORT,
  ) {}

  /** Makes this host's certificate if it has none (first start: a pool of one). */
  async ensure(hostUuid: string, address: string): Promise<boolean> {
    return ensureHostPki(this.dir, hostUuid, address);
  }

  /** What a joining host receives: a certificate of its own from the pool CA, the CA and its key. */
  async issueFor(hostUuid: string, address: string): Promise<PoolCredentials> {
    const out = mkdtempSync(join(tmpdir(), 'berth-issue-'));
    try {
      const m = await issueHostCert(this.dir, hostUuid, address, out);
      return { ...m, caKey: loadPoolCredentials(this.dir).caKey };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }

  /** Installs credentials received from the pool (joining host). */
  async install(creds: PoolCredentials): Promise<void> {
    await installPoolCredentials(this.dir, creds);
  }

  /** A new pool CA and certificate for this host alone (ejected host). */
  async renew(hostUuid: string, address: string): Promise<void> {
    const tmp = mkdtempSync(join(tmpdir(), 'berth-renew-'));
    try {
      await createPoolCa(tmp, `Berth pool of ${hostUuid.slice(0, 8)}`);
      await issueHostCert(tmp, hostUuid, address, tmp);
      await installPoolCredentials(this.dir, loadPoolCredentials(tmp));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** This host's credentials, as its agent takes them (tls_install). */
  credentials(): PoolCredentials {
    return loadPoolCredentials(this.dir);
  }

  /** Hands this host's credentials to its own agent (over its Unix socket). */
  async handToAgent(agent: HostAgent): Promise<void> {
    if (!agent.tlsInstall || !hasTlsMaterial(this.dir)) return;
    await agent.tlsInstall(this.credentials());
  }

  /** The master's client of a member's agent: TCP + mutual TLS to host.address, its uuid pinned. */
  connector(): HostConnector {
    return (host: Row & { uuid: string }) => {
      if (!hasTlsMaterial(this.dir)) return offlineConnector(host);
      try {
        const c = remoteAgentClient(this.dir, String(host.address), host.uuid, this.agentPort);
        c.connect();
        return c;
      } catch (e) {
        log.warn('cannot build the client of a member agent', { host: host.uuid, error: String(e) });
        return offlineConnector(host);
      }
    };
  }
}
