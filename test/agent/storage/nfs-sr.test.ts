// The nfs SR: device_config checks and SM's errors (pure), then against a real NFS server
// (NFS-Ganesha in its own namespace): an independent client (showmount, libnfs's nfs-cp/nfs-ls,
// QEMU's nfs:// block driver) shows the server really serves; SR.probe lists its exports; and
// SR.create either runs the whole life cycle (kernel with an NFS client) or fails with the agent's
// "kernel has no NFS client" error, the mount-dependent part reported as skipped with that reason.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  exportsXml,
  kernelHasNfs,
  mountOptions,
  mountPoints,
  parseNfsConfig,
  parseShowmount,
  remoteSpec,
} from '../../../src/agent/storage/nfs-config.js';
import { volumePath } from '../../../src/shared/host/volume-path.js';
import * as proc from '../../../src/agent/storage/procedures.js';
import type { DriverContext, SrConfig } from '../../../src/agent/storage/types.js';
import { run, runChecked } from '../../../src/shared/exec.js';
import { tempDir } from '../../helpers/tmp.js';
import { hasPattern, writePattern } from './helpers.js';
import { nfsServerUnavailable, standInMountNfs, startNfsServer } from './nfs-server.js';

const MiB = 1024 * 1024;
const failure = (code: number, text?: RegExp) => (e: any) =>
  e.code === `SR_BACKEND_FAILURE_${code}` && e.params[0] === '' && (!text || text.test(e.params[1]));

test('nfs device_config: checks and SM error codes', () => {
  const ok = parseNfsConfig({ server: 'filer.example.com', serverpath: '/srv/srs/' });
  assert.deepEqual(ok, {
    server: 'filer.example.com',
    serverpath: '/srv/srs',
    nfsversion: '3',
    transport: 'tcp',
    options: [],
  });
  assert.equal(
    mountOptions(ok),
    'soft,proto=tcp,vers=3,acdirmin=0,acdirmax=0,timeo=200,retrans=4',
    "SM's soft mount",
  );
  const v6 = parseNfsConfig({
    server: 'fd00::5',
    serverpath: '/x',
    nfsversion: '4.1',
    options: 'nolock,rsize=65536',
  });
  assert.equal(v6.transport, 'tcp6');
  assert.equal(
    mountOptions(v6),
    'soft,proto=tcp6,vers=4.1,acdirmin=0,acdirmax=0,timeo=200,retrans=4,nolock,rsize=65536',
  );
  assert.equal(remoteSpec('fd00::5', '/x'), '[fd00::5]:/x');
  assert.equal(parseNfsConfig({ server: '10.0.0.1', useUDP: 'true' }).transport, 'udp');
  assert.equal(parseNfsConfig({ server: '10.0.0.1' }).serverpath, undefined, 'probe needs no serverpath');

  const bad: [Record<string, string>, (e: any) => boolean][] = [
    [{ serverpath: '/x' }, failure(102, /missing the server parameter/)],
    [{ server: '-oexec', serverpath: '/x' }, failure(140)],
    [{ server: 'a b', serverpath: '/x' }, failure(140)],
    [{ server: 'h', serverpath: 'relative' }, failure(103)],
    [{ server: 'h', serverpath: '/a/../b' }, failure(103)],
    [{ server: 'h', serverpath: '/a;rm -rf /' }, failure(103)],
    [{ server: 'h', serverpath: '/x', nfsversion: '2' }, failure(72, /Invalid nfsversion/)],
    [{ server: 'h', serverpath: '/x', options: 'nolock, -v' }, (e) => e.code === 'INVALID_VALUE'],
  ];
  for (const [dc, check] of bad) assert.throws(() => parseNfsConfig(dc), check, JSON.stringify(dc));
});

test('nfs parsers: showmount, export XML, mountinfo, kernel support', () => {
  const ex = parseShowmount('/srv/a  (everyone)\n/srv/b 10.0.0.0/8,host1\n\n');
  assert.deepEqual(ex, [
    { path: '/srv/a', access: '(everyone)' },
    { path: '/srv/b', access: '10.0.0.0/8,host1' },
  ]);
  assert.equal(
    exportsXml('f&s', ex.slice(0, 1)),
    '<?xml version="1.0" ?><nfs-exports><Export><Target>f&amp;s</Target><Path>/srv/a</Path>' +
      '<Accesslist>(everyone)</Accesslist></Export></nfs-exports>',
  );
  assert.deepEqual(
    mountPoints(
      '36 35 98:0 / /run/sr-mount/a\\040b rw - nfs srv:/x rw\n37 35 0:1 / / rw - ext4 /dev/vda rw\n',
    ),
    ['/run/sr-mount/a b', '/'],
  );
  assert.equal(kernelHasNfs('nodev\tsysfs\nnodev\tnfs4\n', false), true);
  assert.equal(kernelHasNfs('nodev\tsysfs\n\text4\n', true), true, 'a module can be loaded');
  assert.equal(kernelHasNfs('nodev\tsysfs\n\text4\n', false), false);
});

test('nfs SR: volume work refuses an SR that is not mounted', async (t) => {
  const dir = tempDir(t, 'berth-nfs-');
  const ctx: DriverContext = {
    allowedRoots: [dir],
    stateDir: join(dir, 'state'),
    srMountDir: join(dir, 'mnt'),
  };
  const sr: SrConfig = {
    uuid: randomUUID(),
    type: 'nfs',
    deviceConfig: { server: '127.0.0.1', serverpath: '/x' },
  };
  await assert.rejects(proc.blockdev_create(ctx, sr, randomUUID(), MiB), failure(47, /is not mounted/));
  await assert.rejects(proc.sr_scan(ctx, sr), failure(47));
  assert.equal(existsSync(join(ctx.srMountDir!, sr.uuid)), false, 'nothing written on the bare mount point');
  assert.ok(proc.driverInfos().find((d) => d.type === 'nfs')?.shareable);
});

/** Independent of the driver's own check: can this kernel mount NFS at all? */
function kernelNfs(): boolean {
  return kernelHasNfs(
    readFileSync('/proc/filesystems', 'utf8'),
    existsSync(`/lib/modules/${release()}/kernel/fs/nfs`),
  );
}

test('nfs SR against a real NFS server (NFS-Ganesha)', async (t) => {
  const why = nfsServerUnavailable();
  if (why) return t.skip(why);
  const dir = tempDir(t, 'berth-nfs-');
  const server = await startNfsServer(t, dir);
  const ctx: DriverContext = {
    allowedRoots: [dir],
    stateDir: join(dir, 'state'),
    srMountDir: join(dir, 'sr-mount'),
  };
  const url = (name: string) => `nfs://${server.address}${server.exportDir}/${name}`;

  await t.test('an independent client sees the export and moves bytes both ways', async () => {
    const sm = await runChecked('showmount', ['--no-headers', '-e', server.address]);
    assert.deepEqual(
      parseShowmount(sm).map((e) => e.path),
      [server.exportDir],
    );
    const src = join(dir, 'hello.txt');
    writeFileSync(src, 'hello over NFS\n');
    await runChecked('nfs-cp', [src, url('hello.txt')]);
    assert.equal(readFileSync(join(server.exportDir, 'hello.txt'), 'utf8'), 'hello over NFS\n');
    const ls = await runChecked('nfs-ls', [`nfs://${server.address}${server.exportDir}`]);
    assert.match(ls, /hello\.txt/);
  });

  await t.test("QEMU's nfs:// driver: qemu-img create/check and guest-visible writes", async (tt) => {
    if (!existsSync('/usr/lib/x86_64-linux-gnu/qemu/block-nfs.so'))
      return tt.skip('no QEMU nfs block driver (qemu-block-extra not installed)');
    await runChecked('qemu-img', ['create', '-f', 'qcow2', url('q.qcow2'), String(64 * MiB)]);
    await runChecked('qemu-img', ['check', url('q.qcow2')]);
    await writePattern(url('q.qcow2'), 'qcow2', 0x5a, MiB, MiB);
    const local = join(server.exportDir, 'q.qcow2');
    const info = JSON.parse(await runChecked('qemu-img', ['info', '--output=json', local]));
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], 64 * MiB);
    assert.ok(await hasPattern(local, 'qcow2', 0x5a, MiB, MiB), 'written over NFS, read from the disk');
  });

  await t.test('SR.probe: no serverpath lists the exports (SM error 101 carrying the XML)', async () => {
    await assert.rejects(
      proc.sr_probe(ctx, 'nfs', { server: server.address }),
      (e: any) =>
        failure(101)(e) &&
        e.params[2].includes(`<Path>${server.exportDir}</Path>`) &&
        e.params[2].includes('<nfs-exports>'),
    );
    // Nothing listens on the NFS port of our own end of the link: SM's NFSTarget.
    const ownEnd = server.address.replace(/\d+$/, (n) => String(Number(n) - 1));
    await assert.rejects(proc.sr_probe(ctx, 'nfs', { server: ownEnd, serverpath: '/x' }), failure(108));
  });

  await t.test('driver life cycle with mount.nfs standing in as a bind mount of the export', async (tt) => {
    // mount.nfs stands in as a bind mount (nfs-server.ts): the NFS client itself is what the
    // next subtest covers.
    const calls = standInMountNfs(tt, dir);
    const mctx: DriverContext = { ...ctx, srMountDir: join(dir, 'stand-in-mnt') };
    const sr: SrConfig = {
      uuid: randomUUID(),
      type: 'nfs',
      deviceConfig: { server: server.address, serverpath: server.exportDir, options: 'nolock' },
    };
    const mp = join(mctx.srMountDir!, sr.uuid);
    tt.after(async () => {
      await run('umount', ['-l', mp]);
    });
    await proc.sr_create(mctx, sr);
    const onServer = join(server.exportDir, sr.uuid);
    assert.ok(existsSync(join(onServer, '.berth-sr')), 'the SR directory and marker are on the server');
    assert.ok(mountPoints(readFileSync('/proc/self/mountinfo', 'utf8')).includes(mp), 'left mounted');
    const [first, second] = readFileSync(calls, 'utf8').trim().split('\n');
    const opts = 'soft,proto=tcp,vers=3,acdirmin=0,acdirmax=0,timeo=200,retrans=4,nolock';
    assert.equal(first, `${server.address}:${server.exportDir} ${mp} -o ${opts}`);
    assert.equal(second, `${server.address}:${onServer} ${mp} -o ${opts}`);

    const vdi = randomUUID();
    const vol = await proc.blockdev_create(mctx, sr, vdi, 32 * MiB);
    assert.equal(vol.path, join(mp, `${vdi}.qcow2`));
    assert.equal(volumePath('nfs', sr.uuid, sr.deviceConfig, vdi, mctx.srMountDir)?.path, vol.path);
    await writePattern(vol.path, 'qcow2', 0x33, 0, MiB);
    // What the server serves: read back over NFS by QEMU's own client.
    assert.ok(await hasPattern(url(`${sr.uuid}/${vdi}.qcow2`), 'qcow2', 0x33, 0, MiB));
    const probe = await proc.sr_probe(mctx, 'nfs', sr.deviceConfig);
    assert.deepEqual(probe, [{ uuid: sr.uuid, where: `${server.address}:${server.exportDir}/${sr.uuid}` }]);
    await proc.sr_detach(mctx, sr);
    assert.equal(existsSync(mp), false, 'unmounted, mount point removed');
    await assert.rejects(proc.blockdev_find(mctx, sr, vdi), failure(47));
    await proc.sr_attach(mctx, sr);
    assert.deepEqual(
      (await proc.sr_scan(mctx, sr)).volumes.map((v) => v.location),
      [vdi],
    );
    await assert.rejects(proc.sr_destroy(mctx, sr), (e: any) => e.code === 'SR_NOT_EMPTY');
    await proc.blockdev_remove(mctx, sr, vdi);
    await proc.sr_destroy(mctx, sr);
    assert.equal(existsSync(onServer), false, 'SR directory removed from the server');
    assert.equal(existsSync(mp), false);
  });

  const sr: SrConfig = {
    uuid: randomUUID(),
    type: 'nfs',
    deviceConfig: { server: server.address, serverpath: server.exportDir },
  };
  if (!kernelNfs()) {
    await t.test('SR.create: the kernel has no NFS client, said so', async (tt) => {
      const err = await proc.sr_create(ctx, sr).then(
        () => assert.fail('SR.create mounted NFS on a kernel without an NFS client'),
        (e) => e,
      );
      assert.ok(failure(73, /kernel has no NFS client/)(err), String(err));
      tt.diagnostic(`${err.code} ${JSON.stringify(err.params)}`);
      assert.deepEqual(readdirSync(ctx.srMountDir!), [], 'no mount point left behind');
      assert.equal(existsSync(join(server.exportDir, sr.uuid)), false);
      await assert.rejects(proc.sr_attach(ctx, sr), failure(73, /kernel has no NFS client/));
    });
    return t.skip(
      'mount-dependent part (SR.create, VDI.create, attach/detach, destroy over a kernel NFS mount): this kernel has no NFS client (no nfs in /proc/filesystems, no nfs module)',
    );
  }

  await t.test('full life cycle over a kernel NFS mount', async () => {
    const stats = await proc.sr_create(ctx, sr);
    assert.ok(stats.physicalSize > 0);
    const mp = join(ctx.srMountDir!, sr.uuid);
    assert.ok(mountPoints(readFileSync('/proc/self/mountinfo', 'utf8')).includes(mp));
    const vdi = randomUUID();
    const vol = await proc.blockdev_create(ctx, sr, vdi, 32 * MiB);
    assert.equal(vol.path, join(mp, `${vdi}.qcow2`));
    assert.ok(existsSync(join(server.exportDir, sr.uuid, `${vdi}.qcow2`)), 'the file is on the server');
    await writePattern(vol.path, 'qcow2', 0x33, 0, MiB);
    await proc.sr_detach(ctx, sr);
    assert.equal(existsSync(mp), false);
    await proc.sr_attach(ctx, sr);
    assert.deepEqual(
      (await proc.sr_scan(ctx, sr)).volumes.map((v) => v.location),
      [vdi],
    );
    assert.ok(await hasPattern(vol.path, 'qcow2', 0x33, 0, MiB));
    await assert.rejects(proc.sr_destroy(ctx, sr), (e: any) => e.code === 'SR_NOT_EMPTY');
    await proc.blockdev_remove(ctx, sr, vdi);
    await proc.sr_destroy(ctx, sr);
    assert.equal(existsSync(join(server.exportDir, sr.uuid)), false);
    await run('umount', [mp]);
  });
});
