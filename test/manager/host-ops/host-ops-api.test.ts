// Host operations through XenAPI and xe against a real manager and agent: host.verify,
// host.run_restricted_command, host.power_on (wake-on-lan and berth-oob), host.reboot/shutdown
// with xapi's preconditions (through a harmless stand-in command: this machine never reboots).
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startManager } from '../../helpers/manager.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { jsonRpcCaller } from '../../helpers/json-rpc.js';
import { tempDir } from '../../helpers/tmp.js';
import { xe } from '../cli/harness.js';
import { until } from '../../agent/host-ops/config.js';

async function setup(t: import('node:test').TestContext) {
  const dir = tempDir(t, 'berth-hostops-api-');
  const rc = join(dir, 'restricted');
  mkdirSync(rc, { mode: 0o755 });
  chmodSync(rc, 0o755);
  writeFileSync(join(rc, 'uptime-ish'), '#!/bin/sh\necho restricted ok\n', { mode: 0o755 });
  const oob = join(dir, 'oob');
  writeFileSync(oob, `#!/bin/sh\necho "$1 $2" > ${join(dir, 'oob-called')}\n`, { mode: 0o755 });
  const dataDir = tempDir(t, 'berth-hostops-data-');
  const a = await startTestAgent(t, {
    stateRoot: dataDir,
    hostOps: {
      restrictedCommandsDir: rc,
      restrictedCommandFailDelaySec: 0.05,
      oobPrograms: [oob],
      rebootCommand: ['touch', join(dir, 'rebooted')],
      shutdownCommand: ['touch', join(dir, 'shut-down')],
      powerDelaySec: 0.05,
      hostsFile: join(dir, 'hosts'),
    },
  });
  const tm = await startManager(t, { dataDir, agent: a.client });
  const call = jsonRpcCaller(tm.httpUrl);
  const login = await call('session.login_with_password', ['root', tm.rootPassword, '1.0', 'test']);
  const session = String(login.result);
  const api = async (method: string, ...params: unknown[]) => {
    const r = await call(method, [session, ...params]);
    if (r.error) {
      const data = [r.error.message, ...r.error.data];
      throw Object.assign(new Error(data.join(' ')), { data });
    }
    return r.result;
  };
  const host = tm.manager.svc.hostRef();
  return { dir, tm, api, host, oob, db: tm.manager.db };
}

const fails = (p: Promise<unknown>, data: unknown[]) =>
  assert.rejects(p, (e: { data?: unknown[] }) => {
    assert.deepEqual(e.data, data);
    return true;
  });

test('host.verify returns one JSON report per check, and xe host-verify prints them', async (t) => {
  const { api, host, tm, db } = await setup(t);
  const r = (await api('host.verify', host, {})) as Record<string, string>;
  assert.deepEqual(Object.keys(r).sort(), [
    'bridges',
    'hypervisor',
    'instancelist',
    'instancelist-mismatch',
    'node-net-test',
    'storage',
    'time',
    'time-drift',
    'version',
  ]);
  assert.match(JSON.parse(r.hypervisor).version, /QEMU emulator version/);
  assert.ok(Math.abs(JSON.parse(r['time-drift'])) < 5);
  assert.deepEqual(JSON.parse(r['instancelist-mismatch']), { unknown_to_pool: [], not_running: [] });
  // node-net-test: a member whose agent does not answer is reported by its uuid.
  const other = addTestHost(db, 'member2', { address: '127.0.0.1' });
  const { uuid } = db.mustGet('host', other) as { uuid: string };
  const net = (await api('host.verify', host, { 'node-net-test': '' })) as Record<string, string>;
  assert.deepEqual(Object.keys(JSON.parse(net['node-net-test'])), [uuid]);
  assert.deepEqual(
    JSON.parse(
      ((await api('host.verify', host, { bridges: 'berth-hops-nobr' })) as Record<string, string>).bridges,
    ),
    ['berth-hops-nobr'],
  );
  // Explicit targets: name=address:port; an offline member cannot be verified.
  const listener = createServer((c) => c.end());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  t.after(() => listener.close());
  const up = (listener.address() as { port: number }).port;
  const explicit = (await api('host.verify', host, {
    'node-net-test': `up=127.0.0.1:${up},down=127.0.0.1:1`,
  })) as Record<string, string>;
  assert.deepEqual(Object.keys(JSON.parse(explicit['node-net-test'])), ['down']);
  await fails(api('host.verify', host, { 'node-net-test': 'x=127.0.0.1;id:1' }), [
    'INVALID_VALUE',
    'node-net-test',
    '{"name":"x","address":"127.0.0.1;id","port":1}',
  ]);
  await fails(api('host.verify', other, {}), ['HOST_OFFLINE', other]);
  await fails(api('host.verify', host, { reboot: '' }), [
    'INVALID_VALUE',
    'what',
    'reboot (known: hypervisor, filelist, bridges, storage, time, node-net-test, instancelist, version, user-scripts)',
  ]);
  await fails(api('host.verify', host, { filelist: '/etc/shadow' }), [
    'INVALID_VALUE',
    'filelist',
    '"/etc/shadow"',
  ]);
  const hostUuid = String(db.mustGet('host', host).uuid);
  const out = await xe(tm, ['host-verify', `host-uuid=${hostUuid}`, 'what=version,time']);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`host-uuid \\( RO\\) *: ${hostUuid}`));
  assert.match(out.stdout, /version \( RO\): \[1,"0\.1\.0"\]/);
  assert.match(out.stdout, /time-drift \( RO\): /);
  assert.doesNotMatch(out.stdout, /hypervisor/);
});

test('host.run_restricted_command and xe host-run-restricted-command', async (t) => {
  const { api, host, tm, db } = await setup(t);
  assert.equal(await api('host.run_restricted_command', host, 'uptime-ish'), 'restricted ok\n');
  await fails(api('host.run_restricted_command', host, '../../bin/sh'), [
    'NODE_PROCEDURE_FAILED',
    'restricted_command',
    "Executing command '../../bin/sh' failed",
  ]);
  const out = await xe(tm, [
    'host-run-restricted-command',
    `host-uuid=${db.mustGet('host', host).uuid}`,
    'name=uptime-ish',
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim(), 'restricted ok');
});

test('host.power_on: disabled mode, live host, wake-on-lan packet, berth-oob program', async (t) => {
  const { api, host, db, dir, oob, tm } = await setup(t);
  await fails(api('host.power_on', host), ['HOST_IS_LIVE', host]);
  const down = addTestHost(db, 'sleeper', { address: '127.0.0.3' });
  await fails(api('host.power_on', down), ['HOST_POWER_ON_MODE_DISABLED']);
  // wake-on-lan: the magic packet for the management PIF's MAC, sent by the live member's agent.
  const network = db.create('network', { name_label: 'n', bridge: 'xenbr-hops', other_config: {} });
  db.create('PIF', {
    host: down,
    network,
    device: 'eth0',
    MAC: 'aa:bb:cc:00:11:22',
    management: true,
    physical: true,
  });
  const s = createSocket('udp4');
  t.after(() => s.close());
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((r) => s.once('message', r));
  await api('host.set_power_on_mode', down, 'wake-on-lan', {
    address: '127.0.0.1',
    port: String(s.address().port),
  });
  await api('host.power_on', down);
  assert.equal((await got).toString('hex'), `${'ff'.repeat(6)}${'aabbcc001122'.repeat(16)}`);
  // power_on_config:mac overrides the PIF's; a hostile one is refused by the agent.
  const again = new Promise<Buffer>((r) => s.once('message', r));
  const port = String(s.address().port);
  await api('host.set_power_on_mode', down, 'wake-on-lan', {
    address: '127.0.0.1',
    port,
    mac: '02:00:00:00:00:01',
  });
  await api('host.power_on', down);
  assert.equal((await again).toString('hex'), `${'ff'.repeat(6)}${'020000000001'.repeat(16)}`);
  await api('host.set_power_on_mode', down, 'wake-on-lan', {
    address: '127.0.0.1',
    port,
    mac: '02:00;reboot',
  });
  await fails(api('host.power_on', down), ['INVALID_VALUE', 'mac', '"02:00;reboot"']);
  // berth-oob: the OOB program runs on the live member with `power-on <node>`.
  await api('host.set_power_on_mode', down, 'berth-oob', { program: oob, node: 'sleeper.pool.test' });
  await api('host.power_on', down);
  assert.equal(readFileSync(join(dir, 'oob-called'), 'utf8'), 'power-on sleeper.pool.test\n');
  await api('host.set_power_on_mode', down, 'berth-oob', { program: '/bin/sh' });
  await fails(api('host.power_on', down), ['INVALID_VALUE', 'program', '"/bin/sh"']);
  await api('host.set_power_on_mode', down, 'iLO', {});
  await assert.rejects(
    api('host.power_on', down),
    /INTERNAL_ERROR The host failed to power on: power_on_mode iLO has no plugin/,
  );
  // xe host-power-on reaches the same.
  await api('host.set_power_on_mode', down, 'berth-oob', { program: oob, node: 'via-xe' });
  const out = await xe(tm, ['host-power-on', `uuid=${db.mustGet('host', down).uuid}`]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(readFileSync(join(dir, 'oob-called'), 'utf8'), 'power-on via-xe\n');
});

test('host.reboot / host.shutdown need the host disabled and empty, then run the agent command', async (t) => {
  const { api, host, db, dir } = await setup(t);
  await fails(api('host.reboot', host), ['HOST_NOT_DISABLED']);
  await api('host.disable', host);
  const vm = db.create('VM', {
    name_label: 'busy',
    power_state: 'Running',
    resident_on: host,
    is_control_domain: false,
    is_a_template: false,
    other_config: {},
  });
  await fails(api('host.shutdown', host), ['HOST_IN_USE', host, 'vm', vm]);
  db.update('VM', vm, { power_state: 'Halted', resident_on: 'OpaqueRef:NULL' });
  await api('host.reboot', host);
  await until(async () => (existsSync(join(dir, 'rebooted')) ? true : undefined), 'the stand-in reboot');
  await api('host.shutdown', host);
  await until(async () => (existsSync(join(dir, 'shut-down')) ? true : undefined), 'the stand-in shutdown');
});
