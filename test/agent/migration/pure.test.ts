// The pure parts of the agent's live migration: QEMU's query-migrate as MigrationStatus, the
// RPC argument checks, the source's QEMU parameters and the TLS credentials' names.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../helpers/tmp.js';
import {
  acceptOptions,
  addressArg,
  incomingMigration,
  migrationParams,
  socketArg,
  uuidArg,
} from '../../../src/agent/migration/rpc.js';
import { migrationPhase, migrationStatus } from '../../../src/agent/migration/status.js';
import { sourceParameters, UNLIMITED_BANDWIDTH } from '../../../src/agent/migration/outgoing.js';
import {
  credsFiles,
  stageTlsCreds,
  TLS_CREDS_ID,
  tlsCredsObject,
} from '../../../src/agent/migration/tls-creds.js';
import { portTaken } from '../../../src/agent/migration/incoming.js';
import { uriHost } from '../../../src/agent/migration/context.js';

const MiB = 1024 * 1024;
const invalid = (re?: RegExp) => (e: unknown) => {
  const x = e as { code?: string; params?: string[] };
  assert.equal(x.code, 'INVALID_VALUE');
  if (re) assert.match(x.params?.[0] ?? '', re);
  return true;
};

test('QEMU migration states map onto the contract phases', () => {
  const cases: [string | undefined, string][] = [
    [undefined, 'none'],
    ['none', 'none'],
    ['setup', 'setup'],
    ['active', 'active'],
    ['pre-switchover', 'active'],
    ['cancelling', 'active'],
    ['device', 'device'],
    ['completed', 'completed'],
    ['failed', 'failed'],
    ['cancelled', 'cancelled'],
  ];
  for (const [qemu, phase] of cases) assert.equal(migrationPhase(qemu), phase, String(qemu));
});

test('status: progress from the RAM left to send, figures once completed, errors', () => {
  const active = migrationStatus({
    status: 'active',
    ram: { total: 256 * MiB, transferred: 300 * MiB, remaining: 64 * MiB },
    'total-time': 1234,
  });
  assert.equal(active.phase, 'active');
  assert.equal(active.progress, 0.75); // re-sent dirty pages do not count twice
  assert.equal(active.ramTransferred, 300 * MiB);
  assert.equal(active.totalTimeMs, undefined);
  const done = migrationStatus({
    status: 'completed',
    ram: { total: 256 * MiB, transferred: 260 * MiB, remaining: 0 },
    downtime: 42,
    'total-time': 3000,
  });
  assert.deepEqual(
    [done.phase, done.progress, done.downtimeMs, done.totalTimeMs, done.ramRemaining],
    ['completed', 1, 42, 3000, 0],
  );
  assert.equal(
    migrationStatus({ status: 'failed', 'error-desc': 'TLS handshake failed' }).error,
    'TLS handshake failed',
  );
  assert.equal(migrationStatus({ status: 'failed' }).error, 'migration failed');
  assert.equal(migrationStatus({ status: 'cancelled' }).error, 'migration cancelled');
  // Garbage figures are no figures.
  const odd = migrationStatus({ status: 'active', ram: { total: -1, transferred: Number.NaN } });
  assert.deepEqual([odd.progress, odd.ramTotal, odd.ramTransferred], [0, 0, 0]);
});

test('status: disks weigh in while mirroring and after', () => {
  const mirroring = migrationStatus({}, { transferred: 1 * MiB, total: 4 * MiB, mirroring: true });
  assert.equal(mirroring.phase, 'mirroring');
  assert.equal(mirroring.progress, 0.25);
  const memory = migrationStatus(
    { status: 'active', ram: { total: 4 * MiB, remaining: 2 * MiB } },
    { transferred: 4 * MiB, total: 4 * MiB },
  );
  assert.equal(memory.progress, 0.75);
  assert.equal(memory.diskTotal, 4 * MiB);
});

test('accept options: an address for a QEMU URI or empty, mirrored disk names, nothing else', () => {
  assert.deepEqual(acceptOptions('opts', { address: '', mirror: [] }), { address: '', mirror: [] });
  assert.deepEqual(acceptOptions('opts', { address: '10.0.0.2', mirror: [{ device: 'xvda' }] }), {
    address: '10.0.0.2',
    mirror: [{ device: 'xvda' }],
  });
  assert.equal(addressArg('a', 'host-1.example.com', false), 'host-1.example.com');
  assert.equal(addressArg('a', 'fd00::2', false), 'fd00::2');
  for (const bad of [
    null,
    [],
    { address: '10.0.0.2' },
    { address: 42, mirror: [] },
    { address: '10.0.0.2,evil=on', mirror: [] },
    { address: '1.2.3.4:5', mirror: [] },
    { address: '', mirror: [{ device: 'x,bus=evil' }] },
    { address: '', mirror: [{ device: 'xvda', path: '/etc/shadow' }] },
    { address: '', mirror: [], extra: 1 },
  ])
    assert.throws(() => acceptOptions('opts', bad), invalid(/^opts/));
  assert.throws(() => addressArg('a', '', false), invalid());
});

test('incoming migration: tls needs address and port, unix an incoming socket', () => {
  assert.deepEqual(incomingMigration('t', { transport: 'tls', address: '127.0.0.1', port: 49152 }), {
    transport: 'tls',
    address: '127.0.0.1',
    port: 49152,
  });
  const sock = '/run/berth/5a1e0000-1111-4222-8333-4444555566ab/migration/in.sock';
  assert.deepEqual(incomingMigration('t', { transport: 'unix', address: '', port: 0, socket: sock }), {
    transport: 'unix',
    address: '',
    port: 0,
    socket: sock,
  });
  assert.equal(socketArg('s', sock), sock);
  for (const bad of [
    { transport: 'tcp', address: '127.0.0.1', port: 1 },
    { transport: 'tls', address: '127.0.0.1', port: 0 },
    { transport: 'tls', address: '127.0.0.1', port: 70000 },
    { transport: 'tls', address: '', port: 49152 },
    { transport: 'tls', address: '127.0.0.1', port: 49152, socket: sock },
    { transport: 'unix', address: '', port: 0 },
    { transport: 'unix', address: '', port: 0, socket: '/etc/shadow' },
    { transport: 'unix', address: '', port: 0, socket: '/run/../etc/migration/in.sock' },
    { transport: 'unix', address: '', port: 0, socket: 'rel/migration/in.sock' },
    {
      transport: 'tls',
      address: '127.0.0.1',
      port: 49152,
      nbd: { address: '', port: 0, exports: { 'x,y': 'a' } },
    },
    { transport: 'tls', address: '127.0.0.1', port: 49152, more: true },
  ])
    assert.throws(() => incomingMigration('t', bad), invalid(/^t/));
});

test('migration params: live flag, downtime within QEMU range, whole bandwidth', () => {
  assert.deepEqual(migrationParams('p', { live: true, downtimeMs: 300, bandwidth: 0 }), {
    live: true,
    downtimeMs: 300,
    bandwidth: 0,
  });
  for (const bad of [
    { live: 'yes', downtimeMs: 300, bandwidth: 0 },
    { live: true, downtimeMs: -1, bandwidth: 0 },
    { live: true, downtimeMs: 3_000_000, bandwidth: 0 },
    { live: true, downtimeMs: 300, bandwidth: 1.5 },
    { live: true, downtimeMs: 300 },
    { live: true, downtimeMs: 300, bandwidth: 0, x: 1 },
  ])
    assert.throws(() => migrationParams('p', bad), invalid(/^p\./));
  assert.throws(() => uuidArg('uuid', '../x'), invalid());
});

test('source parameters: unlimited bandwidth, TLS names the destination', () => {
  const tls = { transport: 'tls' as const, address: '10.0.0.2', port: 49152 };
  assert.deepEqual(sourceParameters(tls, { live: true, downtimeMs: 300, bandwidth: 0 }), {
    'downtime-limit': 300,
    'max-bandwidth': UNLIMITED_BANDWIDTH,
    'tls-creds': TLS_CREDS_ID,
    'tls-hostname': '10.0.0.2',
  });
  const unix = { transport: 'unix' as const, address: '', port: 0, socket: '/x/migration/in.sock' };
  assert.deepEqual(sourceParameters(unix, { live: false, downtimeMs: 50, bandwidth: 10 * MiB }), {
    'downtime-limit': 50,
    'max-bandwidth': 10 * MiB,
    'tls-creds': '',
    'tls-hostname': '',
  });
});

test('TLS credentials: QEMU names per end, verify-peer on', () => {
  assert.deepEqual(credsFiles('server'), {
    'ca-cert.pem': 'pool-ca.pem',
    'server-cert.pem': 'host.pem',
    'server-key.pem': 'host.key',
  });
  assert.deepEqual(Object.keys(credsFiles('client')), ['ca-cert.pem', 'client-cert.pem', 'client-key.pem']);
  assert.equal(tlsCredsObject('/d', 'client')['verify-peer'], true);
  assert.ok(portTaken('Failed to bind socket: Address already in use'));
  assert.ok(!portTaken('Cannot assign requested address'));
  assert.equal(uriHost('fd00::2'), '[fd00::2]');
  assert.equal(uriHost('10.0.0.2'), '10.0.0.2');
});

test('TLS credentials are copied under QEMU names, 0600, or refused without a pool certificate', (t) => {
  const dir = tempDir(t, 'berth-migrate-agent-creds-');
  const pki = join(dir, 'pki');
  const out = join(dir, 'out');
  mkdirSync(pki);
  mkdirSync(out);
  assert.throws(() => stageTlsCreds(undefined, out, 'server', undefined), /no pool certificate/);
  assert.throws(() => stageTlsCreds(pki, out, 'server', undefined), /no pool certificate in/);
  for (const [f, text] of [
    ['pool-ca.pem', 'CA'],
    ['host.pem', 'CERT'],
    ['host.key', 'KEY'],
  ])
    writeFileSync(join(pki, f), text, { mode: 0o644 });
  stageTlsCreds(pki, out, 'client', undefined);
  assert.deepEqual(readdirSync(out).sort(), ['ca-cert.pem', 'client-cert.pem', 'client-key.pem']);
  assert.equal(readFileSync(join(out, 'client-key.pem'), 'utf8'), 'KEY');
  for (const f of readdirSync(out)) assert.equal(statSync(join(out, f)).mode & 0o777, 0o600, f);
});
