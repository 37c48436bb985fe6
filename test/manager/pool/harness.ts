// Several real pool members in one test process, on loopback: each host has its own data dir,
// its own real agent (startAgent on a temp Unix socket) and its own manager listening on its own
// 127.0.0.x address, all on the same API port (as xapi members all listen on 443, and as
// `xen-api` keeps the port when it follows HOST_IS_SLAVE to the master's address).
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Agent, type AgentOptions, startAgent } from '../../../src/agent/agent.js';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { parseConfig } from '../../../src/manager/config.js';
import { Manager } from '../../../src/manager/manager.js';
import { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import { type HostFacts, readHostFacts } from '../../../src/shared/host-facts.js';
import { tempDir } from '../../helpers/tmp.js';
import { readFileSync } from 'node:fs';

export interface Member {
  name: string;
  address: string;
  dataDir: string;
  agentSocket: string;
  /** The agent's site hooks dir (docs/hooks.md): empty unless a test puts scripts there. */
  hooksDir: string;
  manager?: Manager;
  agent?: Agent;
  rootPassword: string;
  url: string;
  hostUuid: string;
  startAgent(): Promise<void>;
  stopAgent(): Promise<void>;
  /** Opens (or reopens) the manager on its data dir. */
  open(): Promise<void>;
  close(): Promise<void>;
  client(): Promise<XenApiClient>;
}

export interface PoolHarness {
  port: number;
  /** The NBD port of the members started with `nbd` (0: none). */
  nbdPort: number;
  members: Member[];
  /** host uuid → agent socket, for the connector */
  sockets: Map<string, string>;
}

export function waitFor<T>(what: string, pred: () => T | Promise<T>, ms = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = async () => {
      const v = await pred();
      if (v) return resolve(v as NonNullable<T>);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 50);
    };
    void tick();
  });
}

export interface MemberSpec {
  facts?: Partial<HostFacts>;
  /** More directories the agent may hold SRs in (besides DATA/sr, where the default SR goes). */
  srRoots?: string[];
  /** Start this member's NBD server (every member on the same port, on its own address). */
  nbd?: boolean;
  /** More agent options (e.g. a network namespace of the member's own). */
  agent?: Partial<AgentOptions>;
}

/** Starts `specs.length` standalone hosts (each the master of its own pool). */
export async function startPoolHosts(
  t: TestContext,
  specs: MemberSpec[],
  scheme: 'http' | 'https' = 'http',
): Promise<PoolHarness> {
  const base = readHostFacts();
  const sockets = new Map<string, string>();
  const harness: PoolHarness = { port: 0, nbdPort: 0, members: [], sockets };
  const connector = (host: { uuid: string }) => {
    const c = new NodedAgentClient(sockets.get(host.uuid) ?? '/nonexistent', {
      maxBackoffMs: 100,
      classTimeoutsMs: { URGENT: 5000, FAST: 5000, NORMAL: 5000 },
    });
    c.connect();
    return c;
  };
  for (const [i, spec] of specs.entries()) {
    const dir = tempDir(t, 'berth-pool-');
    const address = `127.0.0.${i + 2}`;
    const facts: HostFacts = { ...base, hostname: `pool-host-${i}`, address, ...spec.facts };
    const m: Member = {
      name: `pool-host-${i}`,
      address,
      dataDir: join(dir, 'data'),
      agentSocket: join(dir, 'agent.sock'),
      hooksDir: join(dir, 'hooks'),
      rootPassword: '',
      url: '',
      hostUuid: '',
      async startAgent() {
        m.agent = await startAgent({
          socketPath: m.agentSocket,
          runRoot: join(dir, 'run'),
          logRoot: join(dir, 'log'),
          stateRoots: [dir],
          accel: 'tcg',
          runAs: 'root',
          hooks: { dir: join(dir, 'hooks') },
          ...(spec.srRoots ? { storage: { roots: [join(m.dataDir, 'sr'), ...spec.srRoots] } } : {}),
          ...spec.agent,
        });
      },
      async stopAgent() {
        await m.agent?.close();
        m.agent = undefined;
      },
      async open() {
        const config = parseConfig(
          [
            '--data-dir',
            m.dataDir,
            '--listen',
            address,
            '--http-port',
            scheme === 'http' ? String(harness.port) : 'off',
            '--https-port',
            scheme === 'https' ? String(harness.port) : 'off',
            '--socket',
            join(dir, 'xapi.sock'),
            '--agent-socket',
            m.agentSocket,
            '--auth-failure-delay-ms',
            '20',
            '--nbd-port',
            spec.nbd ? String(harness.nbdPort) : 'off',
          ],
          {},
        );
        m.manager = await Manager.open(config, {
          timers: false,
          networking: false,
          hostFacts: facts,
          hostConnector: connector,
          liveIntervalMs: 100,
        });
        const where = await m.manager.listen();
        harness.port ||= (scheme === 'http' ? where.httpPort : where.httpsPort)!;
        if (spec.nbd) harness.nbdPort ||= where.nbdPort ?? 0;
        m.url = `${scheme}://${address}:${harness.port}/`;
        m.rootPassword = readFileSync(join(m.dataDir, 'root-password'), 'utf8').trim();
        m.hostUuid = String(m.manager.db.get('host', m.manager.svc.hostRef())!.uuid);
        sockets.set(m.hostUuid, m.agentSocket);
      },
      async close() {
        await m.manager?.close();
        m.manager = undefined;
      },
      async client() {
        const c = new XenApiClient({ url: m.url, timeoutMs: 30_000, allowUnauthorized: true });
        await c.login('root', m.rootPassword);
        return c;
      },
    };
    await m.startAgent();
    await m.open();
    harness.members.push(m);
  }
  t.after(async () => {
    for (const m of harness.members) {
      await m.close().catch(() => {});
      await m.stopAgent().catch(() => {});
    }
  });
  return harness;
}
