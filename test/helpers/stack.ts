// A whole Berth host for end-to-end tests: the agent and the manager as separate processes (so
// either can be SIGKILLed), a temp data dir, the test guest, and cleanup of every QEMU started.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { XenApiClient } from '../../src/clients/sdk/client.js';
import { runChecked } from '../../src/shared/exec.js';
import { tempDir } from './tmp.js';
import { localManagerArgs } from './manager-args.js';

const ROOT = join(import.meta.dirname, '../..');
export const GUEST_DIR = process.env.BERTH_TEST_GUEST_DIR ?? join(ROOT, '.cache/guest');

/** Builds (or reuses) the test guest. */
export async function ensureGuest(): Promise<string> {
  await runChecked(join(ROOT, 'tools/build-guest.sh'), [GUEST_DIR], { timeoutMs: 300_000 });
  return GUEST_DIR;
}

export interface Stack {
  dir: string;
  url: string;
  agentSocket: string;
  logDir: string;
  runDir: string;
  startAgent(): Promise<void>;
  startManager(): Promise<void>;
  kill(which: 'agent' | 'manager', signal?: NodeJS.Signals): Promise<void>;
  client(): Promise<XenApiClient>;
  consoleLog(vmUuid: string): string;
  qemuPids(): number[];
}

/** Polls `pred` until it holds; a predicate that throws (a daemon still restarting) is not yet true. */
function waitFor(pred: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = async () => {
      let last: unknown;
      const ok = await Promise.resolve()
        .then(pred)
        .catch((e: unknown) => {
          last = e;
          return false;
        });
      if (ok) return resolve();
      if (Date.now() > deadline)
        return reject(new Error(`timed out waiting for ${what}${last ? ` (last: ${String(last)})` : ''}`));
      setTimeout(tick, 50);
    };
    void tick();
  });
}
export { waitFor };

export async function startStack(t: TestContext, port: number): Promise<Stack> {
  const dir = tempDir(t, 'berth-stack-');
  const agentSocket = join(dir, 'agent.sock');
  const runDir = join(dir, 'run');
  const logDir = join(dir, 'log');
  const procs: { agent?: ChildProcess; manager?: ChildProcess } = {};
  const url = `http://127.0.0.1:${port}`;
  const node = (script: string, args: string[]) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
      stdio: ['ignore', 'ignore', process.env.BERTH_TEST_VERBOSE ? 'inherit' : 'ignore'],
      env: {
        ...process.env,
        BERTH_ACCEL: 'tcg',
        BERTH_CLEAN_SHUTDOWN_TIMEOUT_MS: '60000',
        BERTH_NETWORKING: '0',
      },
    });
    // Whatever happens to the hooks, no daemon outlives the test process (the runner force-exits).
    const killOnExit = () => p.kill('SIGKILL');
    process.once('exit', killOnExit);
    p.once('exit', () => process.off('exit', killOnExit));
    return p;
  };
  const stack: Stack = {
    dir,
    url,
    agentSocket,
    logDir,
    runDir,
    async startAgent() {
      procs.agent = node('src/agent/main.ts', [
        '--socket',
        agentSocket,
        '--run-dir',
        runDir,
        '--log-dir',
        logDir,
        '--state-root',
        dir,
        // The manager's SRs (the default one is DATA/sr/default).
        '--sr-root',
        join(dir, 'data', 'sr'),
      ]);
      await waitFor(() => existsSync(agentSocket), 30_000, 'agent socket');
    },
    async startManager() {
      procs.manager = node(
        'src/manager/main.ts',
        localManagerArgs({
          dataDir: join(dir, 'data'),
          port,
          socket: join(dir, 'xapi.sock'),
          agentSocket,
          guestDir: GUEST_DIR,
          fastAuthFailures: true,
        }),
      );
      await waitFor(
        async () => {
          try {
            const r = await fetch(`${url}/jsonrpc`, {
              method: 'POST',
              body: '{"jsonrpc":"2.0","id":1,"method":"system.listMethods","params":[]}',
            });
            return r.ok;
          } catch {
            return false;
          }
        },
        60_000,
        'manager',
      );
    },
    async kill(which, signal = 'SIGKILL') {
      const p = procs[which];
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
    },
    async client() {
      const c = new XenApiClient({ url });
      await c.login('root', readFileSync(join(dir, 'data', 'root-password'), 'utf8').trim());
      t.after(() => c.close());
      return c;
    },
    consoleLog(uuid) {
      try {
        return readFileSync(join(logDir, `${uuid}.log`), 'utf8');
      } catch {
        return '';
      }
    },
    qemuPids() {
      if (!existsSync(runDir)) return [];
      return readdirSync(runDir)
        .map((d) => {
          try {
            return Number(readFileSync(join(runDir, d, 'qemu.pid'), 'utf8').trim());
          } catch {
            return 0;
          }
        })
        .filter((p) => p > 0);
    },
  };
  t.after(async () => {
    // The daemons first (VMs outlive them), so that no restart action starts a QEMU after the
    // sweep; then no QEMU outlives the test, whatever happened.
    await stack.kill('manager', 'SIGTERM');
    await stack.kill('agent', 'SIGTERM');
    for (const pid of stack.qemuPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  return stack;
}
