// Placement with real host agents: one manager, two hosts (the second one's records made in the
// database, as pool.join would), each host with its own agent process state (run root, log
// root, Unix socket) in this test. VM.start_on the second host runs QEMU under that host's
// agent; then, with that VM's memory counted on the second host, VM.start without a host places
// the next VM on the first. Both guests are real QEMU processes (TCG); nothing outlives the test.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Agent, startAgent } from '../../src/agent/agent.js';
import { defaultTemplates } from '../../src/manager/bootstrap/templates.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { NodedAgentClient } from '../../src/manager/hosts/host-client.js';
import { attachAgent } from '../../src/manager/vm/reconcile.js';
import { killQemusUnder } from '../agent/helpers/guest.js';
import { startManager } from '../helpers/manager.js';
import { addTestHost } from '../helpers/pool-host.js';
import { ensureGuest, GUEST_DIR, waitFor } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

interface TestHost {
  agent: Agent;
  client: NodedAgentClient;
  runRoot: string;
}

/** The pid of the QEMU running `uuid` under an agent's run root, if any. */
function qemuPid(runRoot: string, uuid: string): number | undefined {
  const file = join(runRoot, uuid, 'qemu.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(uuid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

test('start_on the second host runs QEMU under its agent; VM.start places by free memory', {
  timeout: 600_000,
}, async (t) => {
  await ensureGuest();
  const dir = tempDir(t, 'berth-placement-');
  const m = await startManager(t);
  const { svc, db } = m.manager;
  const hostA = svc.hostRef();
  // Host B has room for one test guest only: 600 MiB, a tenth kept for itself.
  const hostB = addTestHost(db, 'placement-b', { memoryTotal: 600 * MiB });

  const hosts = new Map<string, TestHost>();
  for (const [name, ref] of [
    ['a', hostA],
    ['b', hostB],
  ] as const) {
    const root = join(dir, name);
    mkdirSync(root, { recursive: true });
    const runRoot = join(root, 'run');
    t.after(() => killQemusUnder(runRoot));
    const agent = await startAgent({
      socketPath: join(root, 'agent.sock'),
      runRoot,
      logRoot: join(root, 'log'),
      stateRoots: [root],
      accel: 'tcg',
    });
    t.after(() => agent.close());
    const client = new NodedAgentClient(join(root, 'agent.sock'));
    attachAgent(svc, client, async () => undefined, ref);
    client.connect();
    hosts.set(ref, { agent, client, runRoot });
  }
  await waitFor(() => svc.hosts.live(hostA) && svc.hosts.live(hostB), 30_000, 'both agents connected');

  let id = 0;
  const rpc = async (method: string, ...params: unknown[]): Promise<any> => {
    const res = await fetch(`${m.httpUrl}/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id: ++id }),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message: string; data: unknown } };
    if (body.error) throw new Error(`${method}: ${body.error.message} ${JSON.stringify(body.error.data)}`);
    return body.result;
  };
  const session = await rpc('session.login_with_password', 'root', m.rootPassword);
  const call = (method: string, ...params: unknown[]) => rpc(method, session, ...params);
  const guest = defaultTemplates(GUEST_DIR)[0].record;
  const newVm = async (name: string) => {
    const vm = await call('VM.create', baseVmRecord({ ...guest, name_label: name, other_config: {} }));
    return { vm, uuid: String(await call('VM.get_uuid', vm)) };
  };

  // start_on B: QEMU is B's agent's, not A's.
  const one = await newVm('placement-on-b');
  const freeB = await call('host.compute_free_memory', hostB);
  await call('VM.start_on', one.vm, hostB, false, false);
  assert.equal(await call('VM.get_resident_on', one.vm), hostB);
  const pidOne = qemuPid(hosts.get(hostB)!.runRoot, one.uuid);
  assert.ok(pidOne, 'QEMU runs under host B');
  assert.equal(qemuPid(hosts.get(hostA)!.runRoot, one.uuid), undefined);
  assert.equal(hosts.get(hostB)!.agent.vms.info(one.uuid).state, 'running');
  assert.equal(hosts.get(hostA)!.agent.vms.info(one.uuid).state, 'absent');
  const need = 256 * MiB + (await call('VM.compute_memory_overhead', one.vm));
  assert.equal(await call('host.compute_free_memory', hostB), freeB - need);

  // VM.start without a host: B (a slave, otherwise preferred) has no room left, so A.
  const two = await newVm('placement-auto');
  assert.deepEqual(await call('VM.get_possible_hosts', two.vm), [hostA]);
  await call('VM.start', two.vm, false, false);
  assert.equal(await call('VM.get_resident_on', two.vm), hostA);
  assert.ok(qemuPid(hosts.get(hostA)!.runRoot, two.uuid), 'QEMU runs under host A');
  assert.equal(qemuPid(hosts.get(hostB)!.runRoot, two.uuid), undefined);

  // Shutting down goes to each VM's own host.
  await call('VM.hard_shutdown', one.vm);
  await call('VM.hard_shutdown', two.vm);
  await waitFor(() => !qemuPid(hosts.get(hostB)!.runRoot, one.uuid), 30_000, 'QEMU of the VM on B gone');
  await waitFor(() => !qemuPid(hosts.get(hostA)!.runRoot, two.uuid), 30_000, 'QEMU of the VM on A gone');
  assert.equal(await call('VM.get_power_state', one.vm), 'Halted');
});
