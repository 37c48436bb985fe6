// A real agent in a fresh temp dir for tests that run guests on it, with the cleanup every such
// test needs: the client closed, the agent closed and any QEMU left under its runtime root killed,
// all before the temp dir's removal.
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import { type Agent, type AgentOptions, startAgent } from '../../../src/agent/agent.js';
import { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import { tempDir } from '../../helpers/tmp.js';
import { killQemusUnder } from './guest.js';

export interface GuestAgent {
  dir: string;
  runRoot: string;
  agent: Agent;
  client: NodedAgentClient;
}

/** Starts an agent (TCG, socket/run/log under a temp dir named `prefix…`, state in it) with `more`. */
export async function startGuestAgent(
  t: TestContext,
  prefix: string,
  more: Partial<AgentOptions> = {},
): Promise<GuestAgent> {
  let runRoot = '';
  let agent: Agent | undefined;
  let client: NodedAgentClient | undefined;
  // Registered before tempDir's removal: QEMU and the agent end first.
  t.after(async () => {
    client?.close();
    await agent?.close();
    if (runRoot) killQemusUnder(runRoot);
  });
  const dir = tempDir(t, prefix);
  runRoot = join(dir, 'run');
  agent = await startAgent({
    socketPath: join(dir, 'agent.sock'),
    runRoot,
    logRoot: join(dir, 'log'),
    stateRoots: [dir],
    accel: 'tcg',
    devicePlugins: false,
    ...more,
  });
  client = new NodedAgentClient(join(dir, 'agent.sock'));
  return { dir, runRoot, agent, client };
}
