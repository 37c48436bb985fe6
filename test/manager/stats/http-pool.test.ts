// The statistics handlers on a pool slave (two in-process members with real agents sampling):
// the slave serves its own agent's RRDs to a session of the master (checked by the master over
// /pool/stats-session), settles the master's task the request names (/pool/stats-task), and
// refuses unknown or logged-out sessions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startPoolHosts, waitFor } from '../pool/harness.js';

test("a slave's /rrd_updates serves its own host to the master's sessions", {
  timeout: 120_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, s] = members;
  await (await s.client()).call('pool.join', m.address, 'root', m.rootPassword);
  const slaveRef = s.manager!.svc.hostRef();
  await waitFor('the slave live', () => m.manager!.svc.hosts.live(slaveRef));
  const c = await m.client();
  const session = c.sessionRef as string;
  const start = Math.floor(Date.now() / 1000) - 60;
  const ask = (who: typeof s, ref: string) =>
    fetch(`${who.url}rrd_updates?start=${start}&host=true&json=true&session_id=${ref}`);

  // The agents sample every 5 s: the slave's host RRD exists after its first cycle.
  const legend = await waitFor(
    "the slave's host RRD",
    async () => {
      const r = await ask(s, session);
      assert.notEqual(r.status, 401, 'the master checks the session');
      if (r.status !== 200) return undefined;
      return ((await r.json()) as { meta: { legend: string[] } }).meta.legend;
    },
    20_000,
  );
  assert.ok(legend.includes(`AVERAGE:host:${s.hostUuid}:cpu_avg`), legend.join(' '));
  assert.ok(!legend.some((l) => l.includes(m.hostUuid)), "the master's host is not on the slave");

  // A task the client named on the master (xen-api makes one per request) is settled there.
  const task = String(await c.call('task.create', 'rrd_updates on the slave', ''));
  const named = await fetch(
    `${s.url}rrd_updates?start=${start}&host=true&json=true&session_id=${session}&task_id=${task}`,
  );
  assert.equal(named.status, 200);
  await named.arrayBuffer();
  await waitFor(
    'the task settled',
    async () => (await c.call('task.get_status', task as never)) === 'success',
  );

  // An unknown session: 401 with the handler's realm.
  const bad = await ask(s, 'OpaqueRef:00000000-0000-0000-0000-000000000000');
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get('www-authenticate'), 'Basic realm="get_rrd_updates"');
  // A refused request's named task fails at the master (tasks are the master's), not left pending.
  const refusedTask = String(await c.call('task.create', 'refused on the slave', ''));
  const refused = await fetch(
    `${s.url}rrd_updates?start=${start}&session_id=OpaqueRef:00000000-0000-0000-0000-000000000001&task_id=${refusedTask}`,
  );
  assert.equal(refused.status, 401);
  await refused.arrayBuffer();
  await waitFor(
    'the refused task failed',
    async () => (await c.call('task.get_status', refusedTask as never)) === 'failure',
  );
  assert.deepEqual(await c.call('task.get_error_info', refusedTask as never), [
    'SESSION_AUTHENTICATION_FAILED',
  ]);
  // Logged out on the master: refused by the slave too.
  await c.call('session.logout');
  assert.equal((await ask(s, session)).status, 401);
});
