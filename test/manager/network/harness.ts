// A real manager (SQLite, dispatcher) whose host networking is done by a real agent (over its RPC)
// inside a test network namespace.
import type { TestContext } from 'node:test';
import type { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { startManager } from '../../helpers/manager.js';
import { startNetworkAgent } from '../../helpers/network-agent.js';
import { netns } from '../../agent/network/netns.js';

export interface NetHarness {
  ns: string;
  /** The manager's client of the host agent (connected). */
  client: NodedAgentClient;
  svc: Awaited<ReturnType<typeof startManager>>['manager']['svc'];
  call: (method: string, ...args: unknown[]) => Promise<any>;
  /** The error code (and params) a call fails with. */
  fails: (method: string, ...args: unknown[]) => Promise<string[]>;
}

export async function netHarness(t: TestContext, defaultNetwork = false): Promise<NetHarness> {
  const ns = await netns(t, 'mgr');
  const { client } = await startNetworkAgent(t, { netns: ns, nicKinds: ['veth'] });
  const { manager } = await startManager(t, { agent: client, networking: { defaultNetwork } });
  const svc = manager.svc;
  await until(() => svc.hosts.live(svc.hostRef()));
  const session = svc.sessions.localLogin('network-test');
  const call = (method: string, ...args: unknown[]) =>
    svc.call(svc.sessions.validate(session), method, args) as Promise<any>;
  const fails = async (method: string, ...args: unknown[]) => {
    try {
      await call(method, ...args);
    } catch (e) {
      if (e instanceof XenApiError) return e.description;
      throw e;
    }
    throw new Error(`${method} did not fail`);
  };
  return { ns, client, svc, call, fails };
}

/** Waits until `pred` holds (the VM power-state follower works asynchronously). */
export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
