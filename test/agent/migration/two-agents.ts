// Two real in-process agents on this machine for migration tests: separate directories (run,
// log, state roots, pki), host certificates from one pool CA, push channels connected, and
// optionally per-VM QEMU identities (production's default). Everything they start is stopped
// and their QEMUs killed before the directories go.
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Agent, startAgent } from '../../../src/agent/agent.js';
import type { IdRange } from '../../../src/agent/qemu/identity.js';
import { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import type { InstanceEvent } from '../../../src/shared/noded/instance.js';
import { createPoolCa, issueHostCert } from '../../../src/shared/pki/pool-pki.js';
import { tempDir } from '../../helpers/tmp.js';
import { killQemusUnder, sleep } from '../helpers/guest.js';

export interface AgentHost {
  name: 'a' | 'b';
  hostUuid: string;
  dir: string;
  agent: Agent;
  client: NodedAgentClient;
  /** Instance events pushed to `client` (kept across restarts). */
  events: InstanceEvent[];
  pki: string;
}

/** Polls `fn` until it returns something truthy; throws after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 120_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function startTwoAgents(
  t: TestContext,
  opts: {
    /** Temp dir name prefix (the CA's and each host's). */
    prefix: string;
    hostUuids: { a: string; b: string };
    /** Per-VM QEMU identities (the run roots' parents made searchable, as /run is). */
    ids?: { a: IdRange; b: IdRange };
  },
): Promise<{ a: AgentHost; b: AgentHost; caDir: string; restart: (h: AgentHost) => Promise<void> }> {
  const { ids } = opts;
  const hosts: AgentHost[] = [];
  // Registered before any temp dir: QEMUs die before their directories go.
  t.after(async () => {
    for (const h of hosts) {
      h.client.close();
      await h.agent.close();
      killQemusUnder(join(h.dir, 'run'));
    }
  });
  const caDir = tempDir(t, `${opts.prefix}-ca-`);
  await createPoolCa(caDir);
  const startHost = async (name: 'a' | 'b', again?: AgentHost): Promise<AgentHost> => {
    const hostUuid = opts.hostUuids[name];
    const dir = again?.dir ?? tempDir(t, `${opts.prefix}-${name}-`);
    if (ids) chmodSync(dir, 0o711);
    const pki = join(dir, 'pki');
    if (!again) await issueHostCert(caDir, hostUuid, '127.0.0.1', pki);
    const socketPath = join(dir, 'sock', 'agent.sock');
    const agent = await startAgent({
      socketPath,
      runRoot: join(dir, 'run'),
      logRoot: join(dir, 'log'),
      stateRoots: [join(dir, 'state')],
      accel: 'tcg',
      pkiDir: pki,
      ...(ids ? { idRange: ids[name] } : {}),
    });
    const client = new NodedAgentClient(socketPath);
    const h: AgentHost = again ?? { name, hostUuid, dir, agent, client, events: [], pki };
    Object.assign(h, { agent, client });
    if (!again) hosts.push(h);
    client.onEvent((e) => h.events.push(e));
    client.connect();
    await until('push channel', () => client.connected);
    return h;
  };
  const a = await startHost('a');
  const b = await startHost('b');
  /** The agent stops (its VMs run on) and a new one starts on the same directories. */
  const restart = async (h: AgentHost) => {
    h.client.close();
    await h.agent.close();
    await startHost(h.name, h);
  };
  return { a, b, caDir, restart };
}
