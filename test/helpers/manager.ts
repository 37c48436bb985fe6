// Starts a real manager (in-process, real SQLite file, real HTTP/HTTPS listeners on ephemeral
// loopback ports, a Unix socket in a temp dir) for a test, and stops it afterwards.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parseConfig } from '../../src/manager/config.js';
import { Manager, type ManagerOptions } from '../../src/manager/manager.js';
import { tempDir } from './tmp.js';

export interface TestManager {
  manager: Manager;
  dataDir: string;
  httpUrl: string;
  httpsUrl: string;
  socketPath: string;
  rootPassword: string;
}

export async function startManager(
  t: TestContext,
  opts: ManagerOptions & { dataDir?: string; https?: boolean } = {},
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
    ],
    {},
  );
  const manager = await Manager.open(config, { timers: false, agent: false, networking: false, ...opts });
  const where = await manager.listen();
  t.after(() => manager.close());
  return {
    manager,
    dataDir,
    httpUrl: `http://127.0.0.1:${where.httpPort}`,
    httpsUrl: where.httpsPort ? `https://127.0.0.1:${where.httpsPort}` : '',
    socketPath: where.socketPath,
    rootPassword: readFileSync(join(dataDir, 'root-password'), 'utf8').trim(),
  };
}
