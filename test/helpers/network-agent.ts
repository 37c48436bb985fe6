// A real host agent (src/agent/agent.ts, in the test's process) on a temp Unix socket whose
// networking runs in a test network namespace, and the manager's client of it: network tests go
// through the same RPC and argument checks as a real host. Stopped after the test.
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type Agent, startAgent } from '../../src/agent/agent.js';
import type { NetworkProcedureOptions } from '../../src/agent/network/procedures.js';
import { NodedAgentClient } from '../../src/manager/hosts/host-client.js';
import { tempDir } from './tmp.js';

export interface TestNetworkAgent {
  agent: Agent;
  /** Not connected yet: Manager.open connects it (or call `client.call` directly). */
  client: NodedAgentClient;
  socketPath: string;
}

export async function startNetworkAgent(
  t: TestContext,
  network: NetworkProcedureOptions,
): Promise<TestNetworkAgent> {
  const dir = tempDir(t, 'berth-netagent-');
  const socketPath = join(dir, 'sock', 'agent.sock');
  const agent = await startAgent({
    socketPath,
    runRoot: join(dir, 'run'),
    logRoot: join(dir, 'log'),
    stateRoots: [dir],
    accel: 'tcg',
    network,
    devicePlugins: false,
  });
  const client = new NodedAgentClient(socketPath);
  t.after(async () => {
    client.close();
    await agent.close();
  });
  return { agent, client, socketPath };
}
