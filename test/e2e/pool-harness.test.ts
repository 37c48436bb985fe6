// The multi-host harness itself (test/helpers/pool-harness.ts): three namespaced hosts come up and
// answer over the API, reach each other across the switch bridge, survive an agent SIGKILL, and
// leave nothing behind. No guests: it must stay fast.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  createNetwork,
  deleteNetwork,
  freeOctet,
  ip,
  layout,
  linkCommand,
  listNamespaces,
  parseNsName,
  setupCommands,
  sweepStale,
} from '../helpers/netns.js';
import { qemuIdRange, startHosts } from '../helpers/pool-harness.js';

/** Interface names in the root namespace. */
const rootLinkNames = () =>
  new Set(
    execFileSync('ip', ['-o', 'link', 'show'])
      .toString()
      .split('\n')
      .map((l) => l.split(':')[1]?.trim())
      .filter((n): n is string => Boolean(n)),
  );

const jsonRpc = (method: string, params: unknown[]) =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });

test('three namespaced hosts: API, cross-host reach, agent SIGKILL, clean teardown', async (t) => {
  // New root-namespace links named as ours (other helpers' tests add their own meanwhile).
  const ourRootLinks = (before: Set<string>) =>
    [...rootLinkNames()].filter((n) => !before.has(n) && /^(br0|eth0|p\d+)(@|$)/.test(n));
  const rootLinksBefore = rootLinkNames();
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
    assert.deepEqual(
      addrs.sort(),
      ['eth0 inet ' + pool.subnet.replace('.0/24', '.2/24'), 'lo inet 127.0.0.1/8'].sort(),
    );
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
    assert.equal(JSON.parse(bad.stdout).error?.message, 'SESSION_AUTHENTICATION_FAILED');
  });

  await t.test('xe on host 1 lists host 3 across the bridge', async () => {
    const r = await h1.xe(['host-list', 'params=hostname', '--minimal'], h3);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), h3.hostname);
  });

  await t.test('the root namespace holds no address or route of ours', async () => {
    const addrs = execFileSync('ip', ['-o', 'addr', 'show']).toString();
    const routes = execFileSync('ip', ['route', 'show', 'table', 'all']).toString();
    assert.ok(!addrs.includes(' 10.213.'), addrs);
    assert.ok(!routes.includes('10.213.'), routes);
    assert.deepEqual(ourRootLinks(rootLinksBefore), [], 'no interface of ours in the root namespace');
  });

  await t.test(
    'an agent SIGKILL and restart: the manager keeps answering and reaches the new agent',
    async () => {
      const c = await h2.client();
      const [host] = await c.call('host.get_all');
      // A plugin call is answered by the agent: an unknown plugin is its XENAPI_MISSING_PLUGIN.
      const pluginError = () =>
        c.call('host.call_plugin', host, 'no-such-plugin', 'main', {}).then(
          () => 'no error',
          (e: { code?: string }) => e.code,
        );
      assert.equal(await pluginError(), 'XENAPI_MISSING_PLUGIN');
      const before = h2.pid('agent');
      await h2.kill('agent');
      assert.equal(h2.pid('agent'), undefined);
      assert.throws(() => process.kill(before!, 0), 'the agent process is gone');
      assert.equal(await pluginError(), 'CANNOT_CONTACT_HOST', 'the manager answers, without its agent');
      assert.equal((await c.call('host.get_all')).length, 1);
      await h2.start('agent');
      assert.notEqual(h2.pid('agent'), before);
      const deadline = Date.now() + 30_000;
      while ((await pluginError()) !== 'XENAPI_MISSING_PLUGIN') {
        assert.ok(Date.now() < deadline, 'the manager reconnects to the restarted agent within 30 s');
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  );

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
    assert.deepEqual(
      ourRootLinks(rootLinksBefore),
      [],
      'none of our interfaces is left in the root namespace',
    );
  });
});

test('layout: names carry the owner pid and octet; hosts get .1, .2, … on 10.213.<octet>.0/24', () => {
  const l = layout(4242, 17, 3);
  assert.equal(l.switchNs, 'berth-hx-4242-17-sw');
  assert.deepEqual(l.hostNs, ['berth-hx-4242-17-h1', 'berth-hx-4242-17-h2', 'berth-hx-4242-17-h3']);
  assert.deepEqual(l.addresses, ['10.213.17.1', '10.213.17.2', '10.213.17.3']);
  assert.deepEqual(parseNsName(l.hostNs[2]), { pid: 4242, octet: 17 });
  assert.equal(parseNsName('berth-hx-4242-17-eth0'), undefined);
  assert.equal(parseNsName('some-other-ns'), undefined);
  assert.throws(() => layout(1, 1, 0), /host count/);
  // Every interface is created with `ip -n <namespace>` (or is a namespace itself): none in the root one.
  for (const cmd of setupCommands(l)) assert.ok(cmd[0] === '-n' || cmd[0] === 'netns', cmd.join(' '));
});

test('freeOctet skips the octets of running harnesses; QEMU id ranges never overlap', () => {
  assert.equal(freeOctet(['berth-hx-1-5-sw', 'berth-hx-2-6-h1', 'unrelated'], 5), 7);
  assert.equal(freeOctet([], 255), 255);
  const ranges = [0, 1, 255].flatMap((octet) =>
    [1, 2, 16, 250].map((i) => qemuIdRange(octet, i).split(':').map(Number)),
  );
  ranges.sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < ranges.length; k++) assert.ok(ranges[k - 1][0] + ranges[k - 1][1] <= ranges[k][0]);
  const [lastBase, lastCount] = ranges[ranges.length - 1];
  assert.ok(ranges[0][0] >= 1_900_010_000, "above the default agent's range");
  assert.ok(lastBase + lastCount < 2 ** 31, 'below 2^31');
});

test('a harness whose process is gone: sweepStale removes its namespaces, startHosts its directory', async (t) => {
  const dead = spawnSync('true').pid!; // an exited pid
  const ns = `berth-hx-${dead}-9-sw`;
  const dir = join(tmpdir(), `berth-harness-${dead}-9-test`);
  execFileSync('ip', ['netns', 'add', ns]);
  mkdirSync(join(dir, 'h1'), { recursive: true });
  try {
    await sweepStale();
    assert.ok(!(await listNamespaces()).includes(ns));
    const live = await startHosts(1, { t });
    assert.ok(!existsSync(dir), 'the dead harness directory is gone');
    await live.stop();
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two harnesses at once get apart subnets, namespaces and QEMU ids, and both work', async (t) => {
  const [a, b] = await Promise.all([startHosts(1, { t }), startHosts(1, { t })]);
  assert.notEqual(a.subnet, b.subnet);
  assert.notEqual(a.switchNs, b.switchNs);
  assert.notEqual(a.hosts[0].qemuIds, b.hosts[0].qemuIds);
  for (const h of [a.hosts[0], b.hosts[0]])
    assert.equal((await (await h.client()).call('host.get_all')).length, 1);
  await Promise.all([a.stop(), b.stop()]);
  assert.deepEqual([...(await a.leftovers()), ...(await b.leftovers())], []);
});

test('a cut link drops traffic silently and a restored one carries it again (namespaces only)', async (t) => {
  await sweepStale();
  const l = layout(process.pid, freeOctet(await listNamespaces(), 200), 3);
  const procs: ReturnType<typeof spawn>[] = [];
  t.after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await deleteNetwork(l);
  });
  await createNetwork(l);
  const inNs = (i: number, args: string[]) => spawn('ip', ['netns', 'exec', l.hostNs[i], ...args]);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Whether host `from` opens a TCP connection to `to`'s listener within a second. */
  const connects = (from: number, to: number) =>
    new Promise<boolean>((resolve) => {
      const p = inNs(from, [
        'socat',
        '-u',
        'OPEN:/dev/null',
        `TCP:${l.addresses[to]}:7001,connect-timeout=1`,
      ]);
      p.on('exit', (code) => resolve(code === 0));
    });
  // Every host accepts connections on 7001; host 2 prints the stream it gets on 7000.
  for (const i of [0, 1, 2])
    procs.push(inNs(i, ['socat', '-u', 'TCP-LISTEN:7001,reuseaddr,fork', 'OPEN:/dev/null']));
  const server = inNs(1, ['socat', '-u', 'TCP-LISTEN:7000,reuseaddr', 'STDOUT']);
  procs.push(server);
  let received = '';
  server.stdout!.setEncoding('utf8').on('data', (d: string) => {
    received += d;
  });
  const until = async (what: string, ms: number, probe: () => boolean | Promise<boolean>) => {
    const deadline = Date.now() + ms;
    while (!(await probe())) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await sleep(100);
    }
  };
  await until('the listeners', 10_000, async () => (await connects(0, 1)) && connects(2, 0));
  const client = inNs(0, ['socat', '-u', 'STDIN', `TCP:${l.addresses[1]}:7000`]);
  procs.push(client);
  client.stdin!.write('before\n');
  await until('a line across the bridge', 10_000, () => received.includes('before'));

  assert.deepEqual(linkCommand(l, 2, false), ['-n', l.switchNs, 'link', 'set', 'p2', 'down']);
  assert.throws(() => linkCommand(l, 4, false), /host index/);
  await ip(linkCommand(l, 2, false));
  client.stdin!.write('during\n');
  await sleep(1500);
  assert.ok(!received.includes('during'), 'nothing crosses a cut link');
  assert.equal(client.exitCode, null, 'the open connection stalls: it is not reset');
  assert.equal(await connects(0, 1), false, 'no new connection to the cut host');
  assert.equal(await connects(2, 0), true, 'the other hosts still reach each other');
  await ip(linkCommand(l, 2, true));
  await until('the stalled line after the link is back', 15_000, () => received.includes('during'));
  assert.equal(await connects(0, 1), true, 'new connections again');
});
