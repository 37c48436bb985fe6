// PBDs plugged at a host agent's next connection (plug-later.ts): now when connected, else at the
// connection; HOST_OFFLINE waits for the one after, another failure is not retried; PBDs added
// while a round runs are plugged in it; a detached client triggers nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Services } from '../../../src/manager/api/context.js';
import { plugWhenConnected } from '../../../src/manager/storage/plug-later.js';
import type { HostAgent } from '../../../src/manager/vm/host-agent.js';
import { XenApiError } from '../../../src/shared/errors.js';

function fakes() {
  const listeners: (() => void)[] = [];
  const client = {
    connected: false,
    onReconnect: (l: () => void) => listeners.push(l),
  } as unknown as HostAgent & { connected: boolean };
  const attached = new Set<string>();
  let registered: HostAgent | undefined = client;
  const svc = {
    hosts: { peek: () => registered },
    db: {
      has: (_cls: string, ref: string) => ref.startsWith('pbd'),
      get: (_cls: string, ref: string) => ({ currently_attached: attached.has(ref) }),
    },
  } as unknown as Services;
  const connect = async () => {
    client.connected = true;
    for (const l of listeners) l();
    await new Promise((r) => setImmediate(r));
  };
  return { client, svc, attached, connect, detach: () => (registered = undefined) };
}

test('plugs at the next connection; HOST_OFFLINE waits again, other failures do not', async () => {
  const f = fakes();
  const calls: string[] = [];
  let offline = true;
  const plug = async (_svc: Services, pbd: string) => {
    calls.push(pbd);
    if (pbd === 'pbd-bad') throw new XenApiError('SR_BACKEND_FAILURE', ['x']);
    if (pbd === 'pbd-flaky' && offline) throw new XenApiError('HOST_OFFLINE', ['h']);
    f.attached.add(pbd);
  };
  await plugWhenConnected(f.svc, 'h', ['pbd-a', 'pbd-bad', 'pbd-flaky'], plug);
  assert.deepEqual(calls, [], 'nothing while the agent is not connected');
  await f.connect();
  assert.deepEqual(calls, ['pbd-a', 'pbd-bad', 'pbd-flaky']);
  offline = false;
  await f.connect();
  assert.deepEqual(calls.slice(3), ['pbd-flaky'], 'only the offline one is tried again');
  await f.connect();
  assert.equal(calls.length, 4, 'nothing left');
  assert.deepEqual([...f.attached].sort(), ['pbd-a', 'pbd-flaky']);
});

test('PBDs added during a round are plugged in it; a detached client plugs nothing', async () => {
  const f = fakes();
  f.client.connected = true;
  const calls: string[] = [];
  let added: Promise<void> | undefined;
  const plug = async (svc: Services, pbd: string) => {
    calls.push(pbd);
    if (pbd === 'pbd-1') added = plugWhenConnected(svc, 'h', ['pbd-2'], plug);
    await new Promise((r) => setImmediate(r));
  };
  await plugWhenConnected(f.svc, 'h', ['pbd-1'], plug);
  await added;
  assert.deepEqual(calls, ['pbd-1', 'pbd-2']);

  const g = fakes();
  const none: string[] = [];
  await plugWhenConnected(g.svc, 'h', ['pbd-x'], async (_s, p) => void none.push(p));
  g.detach();
  await g.connect();
  assert.deepEqual(none, [], 'the host was ejected meanwhile');
});
