// Starts a real manager (in-process, real SQLite file, real HTTP/HTTPS listeners on ephemeral
// loopback ports, a Unix socket in a temp dir) for a test, and stops it afterwards.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parseConfig } from '../../src/manager/config.js';
import type { StorageOptions as AgentStorageOptions } from '../../src/agent/storage/rpc.js';
import { Manager, type ManagerOptions } from '../../src/manager/manager.js';
import { type InstanceAgent, startTestAgent, withRealStorage } from './test-agent.js';
import { tempDir } from './tmp.js';

export interface TestManager {
  manager: Manager;
  dataDir: string;
  httpUrl: string;
  httpsUrl: string;
  socketPath: string;
  rootPassword: string;
  /** The NBD server's port (with `nbd: true`). */
  nbdPort?: number;
}

export async function startManager(
  t: TestContext,
  opts: Omit<ManagerOptions, 'agent'> & {
    dataDir?: string;
    https?: boolean;
    /** Start the NBD server on a free port (default: off, so tests never take port 10809). */
    nbd?: boolean;
    /** A real agent when absent; a stand-in without storage procedures gets a real agent's. */
    agent?: ManagerOptions['agent'] | InstanceAgent;
    agentStorage?: AgentStorageOptions;
  } = {},
): Promise<TestManager> {
  const dataDir = opts.dataDir ?? tempDir(t);
  const config = parseConfig(
    [
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1',
      '--http-port',
      '0',
      '--https-port',
      opts.https ? '0' : 'off',
      '--socket',
      join(dataDir, 'xapi.sock'),
      '--auth-failure-delay-ms',
      '50',
      '--nbd-port',
      opts.nbd ? '0' : 'off',
    ],
    {},
  );
  // No agent given: a real one in this process, its state root the data dir (SRs under DATA/sr).
  const real = () => startTestAgent(t, { stateRoot: dataDir, storage: opts.agentStorage });
  const given = opts.agent;
  const agent =
    given === undefined
      ? (await real()).client
      : given && !('storage_drivers' in given)
        ? withRealStorage(given, (await real()).client)
        : given;
  const manager = await Manager.open(config, { timers: false, networking: false, ...opts, agent });
  const where = await manager.listen();
  t.after(() => manager.close());
  return {
    manager,
    dataDir,
    httpUrl: `http://127.0.0.1:${where.httpPort}`,
    httpsUrl: where.httpsPort ? `https://127.0.0.1:${where.httpsPort}` : '',
    nbdPort: where.nbdPort,
    socketPath: where.socketPath,
    rootPassword: readFileSync(join(dataDir, 'root-password'), 'utf8').trim(),
  };
}
