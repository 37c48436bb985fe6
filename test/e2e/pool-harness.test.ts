// The multi-host harness itself (test/helpers/pool-harness.ts): three namespaced hosts come up and
// answer over the API, reach each other across the switch bridge, survive an agent SIGKILL, and
// leave nothing behind. No guests: it must stay fast.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listNamespaces } from '../helpers/netns.js';
import { startHosts } from '../helpers/pool-harness.js';

const jsonRpc = (method: string, params: unknown[]) =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });

test('three namespaced hosts: API, cross-host reach, agent SIGKILL, clean teardown', async (t) => {
  const rootLinksBefore = (await import('node:child_process')).execFileSync('ip', ['-o', 'link', 'show']).toString();
  const pool = await startHosts(3, { t });
  const [h1, h2, h3] = pool.hosts;

  await t.test('each host answers login and lists exactly its own host', async () => {
    const uuids = new Set<string>();
    for (const h of pool.hosts) {
      const c = await h.client();
      const hosts = await c.call('host.get_all');
      assert.equal(hosts.length, 1, `${h.hostname}: one host until pools exist`);
      const rec = await c.call('host.get_record', hosts[0]);
      assert.equal(rec.address, h.address, `${h.hostname}: its host record carries its namespace address`);
      assert.equal(rec.hostname, h.hostname, 'each namespace has its own UTS hostname');
      uuids.add(rec.uuid);
    }
    assert.equal(uuids.size, 3, 'three distinct hosts');
  });

  await t.test('each host has only loopback and its eth0 on the private subnet', async () => {
    const r = await h2.exec('ip', ['-o', '-4', 'addr', 'show']);
    assert.equal(r.code, 0, r.stderr);
    const addrs = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/).slice(1, 4).join(' '));
    assert.deepEqual(addrs.sort(), ['eth0 inet 10.' + h2.address.split('.').slice(1, 3).join('.') + '.2/24', 'lo inet 127.0.0.1/8'].sort());
  });

  await t.test('host 1 logs in to host 2 and host 3 across the bridge', async () => {
    for (const peer of [h2, h3]) {
      const r = await h1.exec('curl', [
        '-sS',
        '--max-time',
        '10',
        '-H',
        'Content-Type: application/json',
        '--data-binary',
        jsonRpc('session.login_with_password', ['root', peer.rootPassword(), '2.21', 'harness-test']),
        `http://${peer.address}:${peer.httpPort}/jsonrpc`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const reply = JSON.parse(r.stdout);
      assert.match(reply.result, /^OpaqueRef:/, r.stdout);
    }
    // and a wrong password is refused there, as from anywhere
    const bad = await h1.exec('curl', [
      '-sS',
      '--data-binary',
      jsonRpc('session.login_with_password', ['root', 'wrong', '2.21', 'harness-test']),
      `http://${h2.address}/jsonrpc`,
    ]);
    assert.equal(JSON.parse(bad.stdout).error?.[0] ?? JSON.parse(bad.stdout).error?.message, 'SESSION_AUTHENTICATION_FAILED');
  });

  await t.test('the root namespace cannot reach the hosts: nothing of ours is routed there', async () => {
    const r = await (await import('../../src/shared/exec.js')).run('ip', ['route', 'get', h1.address]);
    assert.doesNotMatch(r.stdout, /dev (br0|eth0 .*10\.213)/, 'no route of ours in the root namespace');
    assert.ok(!r.stdout.includes(' br0'), r.stdout);
  });

  await t.test('an agent SIGKILL and restart: the manager keeps answering and talks to the new agent', async () => {
    const before = h2.pid('agent');
    assert.ok(before);
    await h2.kill('agent');
    assert.equal(h2.pid('agent'), undefined);
    const c = await h2.client();
    assert.equal((await c.call('host.get_all')).length, 1, 'the manager answers with its agent dead');
    await h2.start('agent');
    assert.notEqual(h2.pid('agent'), before);
    // The manager reaches the new agent: a plugin list goes through it.
    const [host] = await c.call('host.get_all');
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await c.call('host.call_plugin', host, 'echo', 'main', {});
        break;
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'UNKNOWN_XENAPI_PLUGIN_FUNCTION' || code === 'XENAPI_MISSING_PLUGIN') break;
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });

  await t.test('a manager SIGKILL and restart keeps its data', async () => {
    const c = await h3.client();
    const [before] = await c.call('host.get_all');
    await h3.kill('manager');
    await h3.start('manager');
    const c2 = await h3.client();
    assert.deepEqual(await c2.call('host.get_all'), [before]);
  });

  await t.test('stop() leaves no namespace, link, process or directory', async () => {
    const pids = pool.hosts.flatMap((h) => [h.pid('agent'), h.pid('manager')]).filter((p) => p !== undefined);
    assert.equal(pids.length, 6);
    await pool.stop();
    assert.deepEqual(await pool.leftovers(), []);
    assert.ok(!(await listNamespaces()).some((ns) => ns.includes(pool.id)));
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), `pid ${pid} is gone`);
    const rootLinksAfter = (await import('node:child_process')).execFileSync('ip', ['-o', 'link', 'show']).toString();
    const names = (s: string) => new Set(s.split('\n').map((l) => l.split(':')[1]?.trim()).filter(Boolean));
    for (const name of names(rootLinksAfter)) assert.ok(names(rootLinksBefore).has(name), `new root link ${name}`);
  });
});
