// wake_on_lan: the magic packet's bytes, and a real UDP broadcast on the configured interface
// received in a second network namespace (both ends of the veth are born inside namespaces).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { test } from 'node:test';
import { magicPacket, wakeOnLan } from '../../../src/agent/host-ops/wol.js';
import { runChecked } from '../../../src/shared/exec.js';
import { tempDir } from '../../helpers/tmp.js';
import { testConfig } from './config.js';

const MAC = '52:54:00:12:34:56';
const expected = `${'ff'.repeat(6)}${'525400123456'.repeat(16)}`;

test('the magic packet is 6 x 0xff then the MAC 16 times', () => {
  assert.equal(magicPacket(MAC).toString('hex'), expected);
  assert.equal(magicPacket('52-54-00-12-34-56').length, 102);
});

test('wake_on_lan sends the packet to the address given', async (t) => {
  const cfg = testConfig(tempDir(t, 'berth-hostops-wol-'));
  const s = createSocket('udp4');
  t.after(() => s.close());
  const got = new Promise<Buffer>((r) => s.once('message', r));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  assert.deepEqual(await wakeOnLan(cfg, MAC, '127.0.0.1', port), { address: '127.0.0.1', port });
  assert.equal((await got).toString('hex'), expected);
});

test('wake_on_lan refuses bad MACs, addresses and ports', async (t) => {
  const cfg = testConfig(tempDir(t, 'berth-hostops-wol-'));
  for (const [mac, address, port] of [
    ['52:54:00:12:34', null, 9],
    ['52:54:00:12:34:56;id', null, 9],
    ['52:54-00:12:34:56', null, 9],
    [MAC, '10.0.0.1; id', 9],
    [MAC, 'example.com', 9],
    [MAC, null, 0],
    [MAC, null, 70000],
  ] as const)
    await assert.rejects(wakeOnLan(cfg, mac, address, port), /INVALID_VALUE/);
  await assert.rejects(
    wakeOnLan(
      testConfig(tempDir(t, 'berth-hostops-wol-'), { wolInterface: 'berth-hops-none' }),
      MAC,
      null,
      9,
    ),
    /interface berth-hops-none has no IPv4 address/,
  );
});

test('wake_on_lan broadcasts on the configured interface (captured in another namespace)', async (t) => {
  const id = `${process.pid % 100000}`;
  const [a, b] = [`berth-hops-wa${id}`, `berth-hops-wb${id}`];
  const ip = (...args: string[]) => runChecked('ip', args, { timeoutMs: 10_000 });
  t.after(async () => {
    await ip('netns', 'del', a).catch(() => undefined);
    await ip('netns', 'del', b).catch(() => undefined);
  });
  await ip('netns', 'add', a);
  await ip('netns', 'add', b);
  await ip('-n', a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b);
  await ip('-n', a, 'addr', 'add', '10.214.7.1/24', 'dev', 'eth0');
  await ip('-n', b, 'addr', 'add', '10.214.7.2/24', 'dev', 'eth0');
  await ip('-n', a, 'link', 'set', 'eth0', 'up');
  await ip('-n', b, 'link', 'set', 'eth0', 'up');
  const here = import.meta.dirname;
  const port = '40009';
  const listener = spawn(
    'ip',
    ['netns', 'exec', b, process.execPath, '--import', 'tsx', join(here, 'wol-listen.ts'), port],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.after(() => listener.kill('SIGKILL'));
  let out = '';
  const lines = new Promise<void>((resolve) =>
    listener.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    }),
  );
  await lines;
  // One datagram line after 'ready' (it may come in the same chunk).
  const received = new Promise<{ hex: string; from: string }>((resolve) => {
    const check = () => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    };
    listener.stdout.on('data', check);
    check();
  });
  const sent = await runChecked(
    'ip',
    ['netns', 'exec', a, process.execPath, '--import', 'tsx', join(here, 'wol-send.ts'), 'eth0', MAC, port],
    { timeoutMs: 30_000 },
  );
  assert.deepEqual(JSON.parse(sent), { address: '10.214.7.255', port: 40009 });
  const got = await received;
  assert.equal(got.hex, expected);
  assert.equal(got.from, '10.214.7.1');
});
