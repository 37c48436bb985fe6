// A real manager (SQLite, dispatcher) with networking attached to a test network namespace.
import type { TestContext } from 'node:test';
import { inProcessNetworkAgent, type NetworkAgent } from '../../../src/manager/network/network-agent.js';
import { openNetworking } from '../../../src/manager/network/setup.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { startManager } from '../../helpers/manager.js';
import { netns } from '../../agent/network/netns.js';

export interface NetHarness {
  ns: string;
  agent: NetworkAgent;
  svc: Awaited<ReturnType<typeof startManager>>['manager']['svc'];
  call: (method: string, ...args: unknown[]) => Promise<any>;
  /** The error code (and params) a call fails with. */
  fails: (method: string, ...args: unknown[]) => Promise<string[]>;
}

export async function netHarness(t: TestContext, defaultNetwork = false): Promise<NetHarness> {
  const ns = await netns(t, 'mgr');
  // No host agent: these tests need no storage, and stand in for the QEMU driver's side themselves.
  const { manager } = await startManager(t, { agent: false });
  const svc = manager.svc;
  const agent = inProcessNetworkAgent({ netns: ns, nicKinds: ['veth'] });
  const off = await openNetworking(svc, { agent, defaultNetwork });
  t.after(off);
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
  return { ns, agent, svc, call, fails };
}

/** Waits until `pred` holds (the VM power-state follower works asynchronously). */
export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
