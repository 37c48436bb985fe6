// node_verify, run_oob and the host's own power actions (through harmless stand-in commands: this
// machine must never reboot).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { runOob } from '../../../src/agent/host-ops/oob.js';
import { HostPower } from '../../../src/agent/host-ops/power.js';
import { missingBridges, nodeVerify } from '../../../src/agent/host-ops/verify.js';
import { runChecked } from '../../../src/shared/exec.js';
import { PROTOCOL_VERSION } from '../../../src/shared/noded/protocol.js';
import { tempDir } from '../../helpers/tmp.js';
import { errorOf, testConfig, until } from './config.js';

test('node_verify reports each key asked for, and only those', async (t) => {
  const dir = tempDir(t, 'berth-hostops-verify-');
  mkdirSync(join(dir, 'files'));
  mkdirSync(join(dir, 'sr'));
  writeFileSync(join(dir, 'files', 'conf'), 'abc');
  writeFileSync(join(dir, 'files', 'hook'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(dir, 'files', 'not-exec'), '#!/bin/sh\n', { mode: 0o644 });
  const cfg = testConfig(dir, {}, ['vm-1']);
  const listener = createServer((s) => s.end());
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  t.after(() => listener.close());
  const port = (listener.address() as { port: number }).port;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const before = Math.floor(Date.now() / 1000);
  const r = await nodeVerify(cfg, {
    hypervisor: true,
    filelist: [join(dir, 'files', 'conf'), join(dir, 'files', 'absent')],
    bridges: ['lo', 'berth-hops-nobr'],
    storage: true,
    time: true,
    'node-net-test': [
      { name: 'up', address: '127.0.0.1', port },
      { name: 'down', address: '127.0.0.1', port: closedPort },
    ],
    instancelist: true,
    version: true,
    'user-scripts': [join(dir, 'files', 'hook'), join(dir, 'files', 'not-exec'), join(dir, 'files', 'gone')],
  });
  assert.equal(r.hypervisor?.error, null);
  assert.match(r.hypervisor?.version ?? '', /QEMU emulator version/);
  assert.ok(r.hypervisor?.accel.includes('tcg'));
  assert.deepEqual(r.filelist, {
    [join(dir, 'files', 'conf')]: createHash('sha1').update('abc').digest('hex'),
    [join(dir, 'files', 'absent')]: null,
  });
  // lo is no bridge: both are reported missing.
  assert.deepEqual(r.bridges, ['lo', 'berth-hops-nobr']);
  assert.equal(r.storage?.roots[0].path, join(dir, 'sr'));
  assert.ok((r.storage?.roots[0].free ?? 0) > 0);
  assert.ok(r.time && r.time[0] >= before && r.time[1] >= 0 && r.time[1] < 1_000_000);
  assert.deepEqual(Object.keys(r['node-net-test'] ?? {}), ['down']);
  assert.match(r['node-net-test']?.down ?? '', /ECONNREFUSED/);
  assert.deepEqual(r.instancelist, ['vm-1']);
  assert.deepEqual(r.version, [PROTOCOL_VERSION, '0.1.0']);
  assert.deepEqual(r['user-scripts'], {
    [join(dir, 'files', 'not-exec')]: 'not executable',
    [join(dir, 'files', 'gone')]: 'missing',
  });
  assert.deepEqual(Object.keys(await nodeVerify(cfg, { time: true, storage: false })), ['time']);
});

test('node_verify refuses paths outside its roots, hostile bridge names and addresses', async (t) => {
  const dir = tempDir(t, 'berth-hostops-verify-');
  mkdirSync(join(dir, 'files'));
  writeFileSync(join(dir, 'secret'), 'x');
  symlinkSync(join(dir, 'secret'), join(dir, 'files', 'escape'));
  const cfg = testConfig(dir);
  const bad: unknown[] = [
    null,
    [],
    'hypervisor',
    { filelist: ['/etc/shadow'] },
    { filelist: [join(dir, 'files', 'escape')] },
    { filelist: [`${dir}/files/../secret`] },
    { filelist: 'not-a-list' },
    { filelist: Array(300).fill(join(dir, 'files', 'a')) },
    { bridges: ['../../etc'] },
    { bridges: ['br0;reboot'] },
    { bridges: ['..'] },
    { 'user-scripts': ['/bin/sh'] },
    { 'node-net-test': [{ name: 'x', address: '127.0.0.1;id', port: 1 }] },
    { 'node-net-test': [{ name: 'x', address: '127.0.0.1', port: 70000 }] },
  ];
  for (const what of bad)
    await assert.rejects(
      nodeVerify(cfg, what),
      (e) => errorOf(e)[0] === 'INVALID_VALUE',
      JSON.stringify(what),
    );
});

function oobProgram(dir: string): string {
  const p = join(dir, 'oob');
  writeFileSync(
    p,
    [
      '#!/bin/sh',
      'case "$1" in',
      `  power-status) printf '{"powered": true, "node": "%s"}' "$2" ;;`,
      '  power-on) ;;',
      '  health) echo "not json" ;;',
      '  power-cycle) sleep 30 ;;',
      '  *) echo "bad $1" >&2; exit 2 ;;',
      'esac',
    ].join('\n'),
  );
  chmodSync(p, 0o755);
  return p;
}

test('run_oob runs an allow-listed program and parses its JSON', async (t) => {
  const dir = tempDir(t, 'berth-hostops-oob-');
  const program = oobProgram(dir);
  const cfg = testConfig(dir, { oobPrograms: [program] });
  assert.deepEqual(await runOob(cfg, program, 'power-status', 'node1.pool.test', 10), {
    powered: true,
    node: 'node1.pool.test',
  });
  assert.equal(await runOob(cfg, program, 'power-on', 'node1', 10), null);
  await assert.rejects(runOob(cfg, program, 'health', 'node1', 10), /returned invalid JSON: not json/);
  await assert.rejects(
    runOob(cfg, program, 'power-off', 'node1', 10),
    /OOB program '.*' failed: exited with status 2; output: bad power-off/,
  );
  const started = Date.now();
  await assert.rejects(runOob(cfg, program, 'power-cycle', 'node1', 0.3), /timed out after 0.3 s/);
  assert.ok(Date.now() - started < 5000);
});

test('run_oob refuses programs off its list, unknown commands and hostile node names', async (t) => {
  const dir = tempDir(t, 'berth-hostops-oob-');
  const program = oobProgram(dir);
  const cfg = testConfig(dir, { oobPrograms: [program] });
  const bad: [unknown, unknown, unknown, unknown][] = [
    ['/bin/sh', 'power-on', 'n', 10],
    [`${dir}/../${dir.split('/').pop()}/oob`, 'power-on', 'n', 10],
    ['oob', 'power-on', 'n', 10],
    [program, 'reboot', 'n', 10],
    [program, 'power-on;id', 'n', 10],
    [program, 'power-on', 'n;id', 10],
    [program, 'power-on', '$(id)', 10],
    [program, 'power-on', 'n\nx', 10],
    [program, 'power-on', '-rf', 10],
    [program, 'power-on', 'n', 0],
    [program, 'power-on', 'n', 99999],
  ];
  for (const args of bad)
    await assert.rejects(
      runOob(cfg, ...args),
      (e) => errorOf(e)[0] === 'INVALID_VALUE',
      JSON.stringify(args),
    );
});

test('node_powercycle and host power actions are refused unless a command is configured', async (t) => {
  const dir = tempDir(t, 'berth-hostops-power-');
  const power = new HostPower(testConfig(dir));
  assert.throws(() => power.powercycle(), /node_powercycle is disabled on this host/);
  assert.throws(() => power.action('reboot'), /host reboot is disabled on this host/);
  assert.throws(() => power.action('halt'), /INVALID_VALUE/);
});

test('node_powercycle answers first, then runs the configured stand-in command', async (t) => {
  const dir = tempDir(t, 'berth-hostops-power-');
  const marker = join(dir, 'rebooted');
  const cfg = testConfig(dir, {
    powercycleCommand: ['touch', marker],
    shutdownCommand: ['touch', `${marker}-shutdown`],
    powerDelaySec: 0.2,
  });
  const power = new HostPower(cfg);
  t.after(() => power.close());
  assert.equal(power.powercycle(), 'Reboot scheduled in 0.2 seconds');
  assert.equal(existsSync(marker), false, 'nothing runs before the delay');
  await until(async () => (existsSync(marker) ? true : undefined), 'the stand-in powercycle command');
  assert.equal(power.action('shutdown'), 'Shutdown scheduled in 0.2 seconds');
  await until(
    async () => (existsSync(`${marker}-shutdown`) ? true : undefined),
    'the stand-in shutdown command',
  );
  // close() cancels what has not run yet.
  power.powercycle();
  writeFileSync(marker, 'before');
  power.close();
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(readFileSync(marker, 'utf8'), 'before');
});

test('node_verify bridges: looked up in the host networking namespace when there is one', async (t) => {
  const ns = `berth-hops-br${process.pid % 100000}`;
  const ip = (...args: string[]) => runChecked('ip', args, { timeoutMs: 10_000 });
  t.after(() => ip('netns', 'del', ns).catch(() => undefined));
  await ip('netns', 'add', ns);
  await ip('-n', ns, 'link', 'add', 'xenbr0', 'type', 'bridge');
  await ip('-n', ns, 'link', 'add', 'dummy0', 'type', 'veth', 'peer', 'name', 'dummy1');
  assert.deepEqual(await missingBridges(['xenbr0', 'dummy0', 'xenbr9'], ns), ['dummy0', 'xenbr9']);
  // Without the namespace the same names are looked up in this one (where none of them is).
  assert.deepEqual(await missingBridges(['berth-hops-nobr'], null), ['berth-hops-nobr']);
});
