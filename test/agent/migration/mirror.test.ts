// Storage migration's block layer with real QEMUs (no guest): a source QEMU mirrors its disks into
// a destination QEMU waiting for an incoming migration, over a Unix socket the agent made (handed
// to both QEMUs as descriptors) and over TCP with TLS and the pool's certificates; qemu-img compare
// then finds the target images equal to the sources. A cancel before the jobs are in sync
// abandons the copy and leaves the source as it was.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cancelMirrors,
  finishMirrors,
  MIRROR_JOB_PREFIX,
  mirrorCommand,
  mirrorProgress,
  nbdClientNode,
  serveMirrorTargets,
  startMirrors,
  stopMirrorTargets,
  summarise,
  waitMirrorsReady,
} from '../../../src/agent/migration/mirror.js';
import { MIGRATION_PORTS } from '../../../src/shared/host/migration.js';
import { tempDir } from '../../helpers/tmp.js';
import { bareQemus, image, qemuTlsDirs, quit, sameContent, sh } from './mirror-qemu.js';

const MiB = 1024 * 1024;

test('summarise: progress summed over Berth jobs, ready only when all are, errors named', () => {
  const jobs = [
    { id: 'berth-mirror-xvda', status: 'ready', 'current-progress': 10, 'total-progress': 10 },
    { id: 'berth-mirror-xvdb', status: 'running', 'current-progress': 3, 'total-progress': 8 },
    { id: 'other', status: 'running', 'current-progress': 100, 'total-progress': 200 },
  ];
  const p = summarise(jobs, [
    { device: 'berth-mirror-xvda', ready: true, offset: 10, len: 10 },
    { device: 'berth-mirror-xvdb', ready: false, offset: 3, len: 8 },
  ]);
  assert.equal(p.transferred, 13);
  assert.equal(p.total, 18);
  assert.equal(p.ready, false);
  assert.deepEqual(
    p.jobs.map((j) => [j.device, j.ready]),
    [
      ['xvda', true],
      ['xvdb', false],
    ],
  );
  const failed = summarise([{ ...jobs[1], status: 'concluded', error: 'Connection reset' }], []);
  assert.equal(failed.error, 'mirror of xvdb: Connection reset');
  assert.equal(failed.ready, false);
  assert.equal(summarise([], []).ready, false, 'no job is not "all ready"');
});

test('QMP arguments of the client node and the mirror job', () => {
  assert.deepEqual(
    nbdClientNode('xvda', { type: 'inet', host: '10.0.0.2', port: '49152' }, 'xvda', {
      tlsCredsId: 'tls0',
      tlsHostname: '10.0.0.2',
    }),
    {
      driver: 'nbd',
      'node-name': 'mnbd-xvda',
      server: { type: 'inet', host: '10.0.0.2', port: '49152' },
      export: 'xvda',
      'tls-creds': 'tls0',
      'tls-hostname': '10.0.0.2',
    },
  );
  assert.deepEqual(mirrorCommand('xvdb', '#block123', 'mnbd-xvdb'), {
    'job-id': `${MIRROR_JOB_PREFIX}xvdb`,
    device: '#block123',
    target: 'mnbd-xvdb',
    sync: 'full',
    'auto-dismiss': false,
  });
});

/** Source disks with known data at several places, and empty targets of the same size. */
function disks(dir: string) {
  return {
    src: {
      xvda: image(join(dir, 'a.qcow2'), '64M', [
        [0x11, 0, MiB],
        [0x22, 17 * MiB, 3 * MiB],
        [0x33, 63 * MiB, MiB],
      ]),
      xvdb: image(join(dir, 'b.qcow2'), '16M', [[0x44, 5 * MiB, 512 * 1024]]),
    },
    dst: { xvda: image(join(dir, 'a-new.qcow2'), '64M'), xvdb: image(join(dir, 'b-new.qcow2'), '16M') },
  };
}

async function mirrorAll(
  src: Awaited<ReturnType<ReturnType<typeof bareQemus>>>,
  nbd: Awaited<ReturnType<typeof serveMirrorTargets>>,
  opts: Parameters<typeof startMirrors>[3],
  beforeCancel?: () => Promise<void>,
) {
  await startMirrors(src.qmp, nbd, ['xvda', 'xvdb'], opts);
  const ready = await waitMirrorsReady(src.qmp, ['xvda', 'xvdb'], { timeoutMs: 60_000 });
  assert.equal(ready.ready, true);
  assert.equal(ready.jobs.length, 2);
  assert.ok(ready.total >= 80 * MiB && ready.transferred === ready.total, JSON.stringify(ready));
  await beforeCancel?.();
  const outcome = await cancelMirrors(src.qmp);
  assert.deepEqual(
    outcome.map((o) => [o.device, o.consistent]),
    [
      ['xvda', true],
      ['xvdb', true],
    ],
  );
  await finishMirrors(src.qmp, ['xvda', 'xvdb']);
  const left = await src.qmp.command<unknown[]>('query-jobs');
  assert.deepEqual(left, [], 'finishMirrors dismisses the jobs');
  const nodes = await src.qmp.command<{ 'node-name': string }[]>('query-named-block-nodes');
  assert.ok(!nodes.some((n) => n['node-name'].startsWith('mnbd-')), 'the NBD client nodes are gone');
}

test('mirror over a Unix socket into an incoming QEMU: targets equal the sources', {
  timeout: 120_000,
}, async (t) => {
  const start = bareQemus(t);
  const dir = tempDir(t, 'berth-mirror-agent-');
  const d = disks(dir);
  const src = await start(join(dir, 'src'), d.src);
  const dst = await start(join(dir, 'dst'), d.dst, true);
  const socket = join(dir, 'run', 'mirror.sock');
  const nbd = await serveMirrorTargets(dst.qmp, [{ device: 'xvda' }, { device: 'xvdb' }], {
    transport: 'unix',
    socket,
    fdpass: dst.fdpass,
  });
  assert.deepEqual(nbd, { address: '', port: 0, socket, exports: { xvda: 'xvda', xvdb: 'xvdb' } });
  // libvirt's order: memory migrates while the mirrors keep the targets in sync; the jobs are
  // cancelled only after it completed (the source inactive and paused).
  const memory = join(dir, 'run', 'memory.sock');
  await mirrorAll(src, nbd, { fdpass: src.fdpass }, async () => {
    await dst.qmp.command('migrate-incoming', { uri: `unix:${memory}` });
    await src.qmp.command('migrate', { uri: `unix:${memory}` });
    for (let s = ''; s !== 'completed'; await sleep(50)) {
      s = (await src.qmp.command<{ status: string }>('query-migrate')).status;
      assert.ok(s !== 'failed' && s !== 'cancelled', s);
    }
  });
  await stopMirrorTargets(dst.qmp, socket);
  assert.deepEqual(await dst.qmp.command('query-block-exports'), []);
  await quit(dst); // its image caches on disk
  assert.ok(sameContent(d.src.xvda, d.dst.xvda), 'xvda copied');
  assert.ok(sameContent(d.src.xvdb, d.dst.xvdb), 'xvdb copied');
  // Not trivially equal: the data is really there.
  assert.match(
    sh('qemu-io', '-r', '-U', '-f', 'qcow2', '-c', `read -P 0x22 ${17 * MiB} ${3 * MiB}`, d.dst.xvda),
    /read/,
  );
});

test('mirror over TCP with TLS and pool certificates, port from MIGRATION_PORTS', {
  timeout: 120_000,
}, async (t) => {
  const start = bareQemus(t);
  const dir = tempDir(t, 'berth-mirror-agent-');
  const d = disks(dir);
  const tls = await qemuTlsDirs(join(dir, 'pki'));
  const src = await start(join(dir, 'src'), d.src);
  const dst = await start(join(dir, 'dst'), d.dst, true);
  const creds = (endpoint: string, path: string) => ({
    'qom-type': 'tls-creds-x509',
    id: 'berth-tls',
    dir: path,
    endpoint,
    'verify-peer': true,
  });
  await dst.qmp.command('object-add', creds('server', tls.server));
  await src.qmp.command('object-add', creds('client', tls.client));
  const nbd = await serveMirrorTargets(dst.qmp, [{ device: 'xvda' }, { device: 'xvdb' }], {
    transport: 'tls',
    address: '127.0.0.1',
    tlsCredsId: 'berth-tls',
  });
  assert.equal(nbd.address, '127.0.0.1');
  assert.ok(nbd.port >= MIGRATION_PORTS.first && nbd.port <= MIGRATION_PORTS.last, String(nbd.port));
  // Without TLS the client is refused (never plain TCP).
  await assert.rejects(startMirrors(src.qmp, nbd, ['xvda'], {}), /TLS/);
  await mirrorAll(src, nbd, { tlsCredsId: 'berth-tls' });
  await stopMirrorTargets(dst.qmp);
  await quit(dst);
  assert.ok(sameContent(d.src.xvda, d.dst.xvda), 'xvda copied');
  assert.ok(sameContent(d.src.xvdb, d.dst.xvdb), 'xvdb copied');
});

test('a plain NBD client is refused by the TLS server', { timeout: 60_000 }, async (t) => {
  const start = bareQemus(t);
  const dir = tempDir(t, 'berth-mirror-agent-');
  const tls = await qemuTlsDirs(join(dir, 'pki'));
  const dst = await start(join(dir, 'dst'), { xvda: image(join(dir, 'new.qcow2'), '16M') }, true);
  await dst.qmp.command('object-add', {
    'qom-type': 'tls-creds-x509',
    id: 'berth-tls',
    dir: tls.server,
    endpoint: 'server',
    'verify-peer': true,
  });
  const nbd = await serveMirrorTargets(dst.qmp, [{ device: 'xvda' }], {
    transport: 'tls',
    address: '127.0.0.1',
    tlsCredsId: 'berth-tls',
  });
  assert.throws(
    () => sh('qemu-io', '-f', 'raw', '-c', 'read 0 512', `nbd://127.0.0.1:${nbd.port}/xvda`),
    'plain NBD refused',
  );
  await stopMirrorTargets(dst.qmp);
});

test('a cancel before the mirrors are in sync abandons the copy; the source is intact', {
  timeout: 120_000,
}, async (t) => {
  const start = bareQemus(t);
  const dir = tempDir(t, 'berth-mirror-agent-');
  const source = image(join(dir, 'a.qcow2'), '64M', [[0x5a, 0, 32 * MiB]]);
  const reference = join(dir, 'ref.raw');
  sh('qemu-img', 'convert', '-O', 'raw', source, reference);
  const target = image(join(dir, 'a-new.qcow2'), '64M');
  const src = await start(join(dir, 'src'), { xvda: source });
  const dst = await start(join(dir, 'dst'), { xvda: target }, true);
  const socket = join(dir, 'run', 'mirror.sock');
  const nbd = await serveMirrorTargets(dst.qmp, [{ device: 'xvda' }], {
    transport: 'unix',
    socket,
    fdpass: dst.fdpass,
  });
  await startMirrors(src.qmp, nbd, ['xvda'], { fdpass: src.fdpass });
  // Slowed down, so the cancel comes before the job is in sync.
  await src.qmp.command('block-job-set-speed', { device: `${MIRROR_JOB_PREFIX}xvda`, speed: MiB });
  const p = await mirrorProgress(src.qmp);
  assert.equal(p.ready, false);
  const [outcome] = await cancelMirrors(src.qmp);
  assert.equal(outcome.device, 'xvda');
  assert.equal(outcome.consistent, false);
  await finishMirrors(src.qmp, ['xvda']);
  await stopMirrorTargets(dst.qmp, socket);
  assert.ok(sameContent(source, reference), 'the source is unchanged');
  assert.ok(!sameContent(source, target), 'the target is not a complete copy');
  // A mirror to a device the destination does not export fails and leaves nothing behind.
  await assert.rejects(startMirrors(src.qmp, nbd, ['xvda'], { fdpass: src.fdpass }));
  assert.deepEqual(await src.qmp.command('query-jobs'), []);
});
