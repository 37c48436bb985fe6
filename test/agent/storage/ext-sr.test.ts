// The `ext` SR with the example provider (examples/extstorage/loopfile: real loop devices over
// sparse files in a temp dir, all detached and removed afterwards) and with bad providers: a
// hanging script, garbage from attach, missing and non-executable scripts, `../` in names,
// shell metacharacters in parameters.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { type TestContext, test } from 'node:test';
import { extDiskAssembler } from '../../../src/agent/storage/ext-assembler.js';
import { attachVolume, detachVolume, parseExtPath } from '../../../src/agent/storage/ext-sr.js';
import { AttachedSrs } from '../../../src/agent/storage/attached.js';
import { attachedDevice, type ExtAction, parseParameters } from '../../../src/agent/storage/ext-provider.js';
import * as proc from '../../../src/agent/storage/procedures.js';
import type { DriverContext, SrConfig } from '../../../src/agent/storage/types.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { extVolumePath, volumePath } from '../../../src/shared/host/volume-path.js';
import { tempDir } from '../../helpers/tmp.js';
import { hasPattern, writePattern } from './helpers.js';

const MiB = 1024 * 1024;
const EXAMPLE = resolve('examples/extstorage/loopfile');

/** A provider directory `name` under `dir`: a copy of the example with `edit` applied. */
function provider(dir: string, name: string, edit?: (pdir: string) => void): string {
  const pdir = join(dir, name);
  cpSync(EXAMPLE, pdir, { recursive: true });
  edit?.(pdir);
  return pdir;
}

function script(pdir: string, action: string, body: string) {
  writeFileSync(join(pdir, action), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

const loopsOf = (file: string) =>
  execFileSync('losetup', ['-j', file, '-O', 'NAME', '-n'], { encoding: 'utf8' }).trim();

function setup(t: TestContext, timeouts?: Partial<Record<ExtAction, number>>) {
  const dir = tempDir(t, 'berth-extsr-');
  const providers = join(dir, 'providers');
  const data = join(dir, 'data');
  const ctx: DriverContext = {
    allowedRoots: [dir],
    stateDir: join(dir, 'state'),
    ext: { dirs: [providers], logDir: join(dir, 'logs'), timeouts },
  };
  const sr = (name: string, extra: Record<string, string> = {}): SrConfig => ({
    uuid: randomUUID(),
    type: 'ext',
    deviceConfig: { provider: name, dir: data, ...extra },
  });
  t.after(() => {
    // Every loop device over a file of this test goes, whatever the test left.
    if (existsSync(data))
      for (const f of readdirSync(data)) {
        const loops = loopsOf(join(data, f));
        for (const l of loops.split('\n').filter(Boolean)) execFileSync('losetup', ['-d', l]);
      }
  });
  return { dir, providers, data, ctx, sr };
}

const backendFailure = (e: unknown) => e instanceof XenApiError && e.code === 'SR_BACKEND_FAILURE';

test('ext SR over loopfile: create, attach (a real loop device), grow, snapshot, setinfo, remove', async (t) => {
  const { providers, data, ctx, sr } = setup(t);
  provider(providers, 'loopfile');
  const cfg = sr('loopfile');
  t.after(() => rmSync(`/dev/berth-ext/${cfg.uuid}`, { recursive: true, force: true }));
  await proc.sr_create(ctx, cfg);
  await proc.sr_attach(ctx, cfg);
  const uuid = randomUUID();
  const v = await proc.blockdev_create(ctx, cfg, uuid, 5 * MiB + 1); // rounded up to whole MiB
  assert.equal(v.virtualSize, 6 * MiB);
  assert.equal(v.path, extVolumePath(cfg.uuid, uuid));
  assert.deepEqual(volumePath('ext', cfg.uuid, cfg.deviceConfig, uuid), { path: v.path, format: 'raw' });
  assert.equal(statSync(join(data, `${uuid}.img`)).size, 6 * MiB);
  assert.equal(readFileSync(join(data, `${uuid}.img.meta`), 'utf8'), `berth-sr+${cfg.uuid}\n`);

  // Attach: the link is the loop device attach printed; attach again is idempotent.
  const link = await attachVolume(cfg, uuid, ctx);
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.ok(statSync(link).isBlockDevice());
  const loop = loopsOf(join(data, `${uuid}.img`));
  assert.match(loop, /^\/dev\/loop\d+$/);
  await attachVolume(cfg, uuid, ctx);
  assert.equal(loopsOf(join(data, `${uuid}.img`)), loop);
  await writePattern(link, 'raw', 0x5a, 0, 65536);

  // Grow while attached: file and loop device both grow.
  const grown = await proc.blockdev_grow(ctx, cfg, uuid, 10 * MiB);
  assert.equal(grown.virtualSize, 10 * MiB);
  assert.equal(Number(execFileSync('blockdev', ['--getsize64', loop], { encoding: 'utf8' })), 10 * MiB);
  await assert.rejects(proc.blockdev_grow(ctx, cfg, uuid, 2 * MiB), /VDI_TOO_SMALL/);

  // Snapshot: a new volume with the same content.
  const snapUuid = randomUUID();
  const snap = await proc.blockdev_snapshot(ctx, cfg, uuid, snapUuid);
  assert.equal(snap.virtualSize, 10 * MiB);
  const snapLink = await attachVolume(cfg, snapUuid, ctx);
  assert.ok(await hasPattern(snapLink, 'raw', 0x5a, 0, 65536));
  await detachVolume(cfg, snapUuid, ctx);

  const scan = await proc.sr_scan(ctx, cfg);
  assert.deepEqual(scan.volumes.map((x) => x.location).sort(), [uuid, snapUuid].sort());
  assert.equal(scan.stats.physicalUtilisation, 20 * MiB);
  await assert.rejects(proc.sr_destroy(ctx, cfg), backendFailure);

  // Detach lets go of the loop device and the link.
  await detachVolume(cfg, uuid, ctx);
  assert.equal(loopsOf(join(data, `${uuid}.img`)), '');
  assert.ok(!existsSync(link));

  await proc.blockdev_remove(ctx, cfg, uuid);
  await proc.blockdev_remove(ctx, cfg, snapUuid);
  assert.deepEqual(readdirSync(data), []);
  await proc.sr_destroy(ctx, cfg);
  // Every run left a log; EXTP_ values (possibly secrets) are never in them.
  const logs = readdirSync(ctx.ext?.logDir ?? '');
  assert.ok(logs.some((l) => l.startsWith(`create-loopfile-${uuid}-`)));
  for (const l of logs) assert.ok(!readFileSync(join(ctx.ext?.logDir ?? '', l), 'utf8').includes(data));
});

test('ext SR: import, copy and export attach a volume for the work', async (t) => {
  const { dir, providers, ctx, sr } = setup(t);
  provider(providers, 'loopfile');
  const cfg = sr('loopfile');
  t.after(() => rmSync(`/dev/berth-ext/${cfg.uuid}`, { recursive: true, force: true }));
  await proc.sr_create(ctx, cfg);
  const src = join(dir, 'src.img');
  writeFileSync(src, Buffer.alloc(2 * MiB));
  await writePattern(src, 'raw', 0x33, MiB, 4096);
  const v = await proc.blockdev_import_file({ ...ctx, fileRoots: [dir] }, cfg, randomUUID(), src);
  const link = await attachVolume(cfg, v.location, ctx);
  assert.ok(await hasPattern(link, 'raw', 0x33, MiB, 4096));
  await detachVolume(cfg, v.location, ctx);
  // Copy and export read a detached volume: attached for the work, detached after.
  const copy = await proc.blockdev_convert(ctx, cfg, v.location, cfg, randomUUID());
  assert.ok(!existsSync(v.path) && !existsSync(copy.path), 'nothing left attached');
  const out = join(dir, 'out.raw');
  await proc.blockdev_export_file({ ...ctx, fileRoots: [dir] }, cfg, copy.location, out);
  assert.ok(await hasPattern(out, 'raw', 0x33, MiB, 4096));
  assert.ok(!existsSync(copy.path));
  for (const x of [v, copy]) await proc.blockdev_remove(ctx, cfg, x.location);
});

test('ext disk assembler: attaches a starting VM’s ext disks, all or nothing, and releases them', async (t) => {
  const { providers, data, ctx, sr } = setup(t);
  provider(providers, 'loopfile');
  const cfg = sr('loopfile');
  t.after(() => rmSync(`/dev/berth-ext/${cfg.uuid}`, { recursive: true, force: true }));
  await proc.sr_create(ctx, cfg);
  const a = (await proc.blockdev_create(ctx, cfg, randomUUID(), MiB)).path;
  const attached = new AttachedSrs(ctx);
  const asm = extDiskAssembler(attached, ctx);
  // Not attached on this host: SR_NOT_ATTACHED, nothing attached.
  await assert.rejects(asm.assemble([a]), /SR_NOT_ATTACHED/);
  attached.add(cfg);
  const missing = extVolumePath(cfg.uuid, 'no-such-volume');
  await assert.rejects(asm.assemble(['/var/lib/other.qcow2', a, missing]), /VDI_MISSING/);
  assert.equal(
    readdirSync(data)
      .map((f) => loopsOf(join(data, f)))
      .join(''),
    '',
    'rolled back',
  );
  await asm.assemble(['/var/lib/other.qcow2', a]);
  assert.ok(statSync(a).isBlockDevice());
  await asm.release([a]);
  assert.ok(!existsSync(a));
  assert.deepEqual(parseExtPath(a), { sr: cfg.uuid, location: parseExtPath(a)?.location });
  assert.equal(parseExtPath('/dev/berth-ext/x/../y'), undefined);
});

test('ext SR: bad providers fail clearly, in time, and leave nothing behind', async (t) => {
  const { providers, data, ctx, sr } = setup(t, { create: 1500, attach: 1500 });

  // A create that hangs (and leaves a child holding its pipes): killed at the limit, then removed.
  provider(providers, 'hangs', (p) =>
    script(p, 'create', 'touch "$EXTP_DIR/$VOL_NAME.img"; sleep 600 & sleep 600'),
  );
  const hangs = sr('hangs');
  await proc.sr_create(ctx, hangs);
  const t0 = Date.now();
  await assert.rejects(proc.blockdev_create(ctx, hangs, randomUUID(), MiB), (e) => {
    assert.ok(backendFailure(e));
    assert.match((e as XenApiError).params.join(' '), /create script failed \(timed out after 1\.5 s\)/);
    return true;
  });
  assert.ok(Date.now() - t0 < 6000, 'within the time limit');
  assert.deepEqual(readdirSync(data), [], 'the half-made volume was removed');
  assert.deepEqual((await proc.sr_scan(ctx, hangs)).volumes, []);

  // A create that leaves a daemon behind holding its output: done at once, the daemon lives on.
  const pidFile = join(data, '..', 'daemon.pid');
  provider(providers, 'daemon', (p) =>
    script(
      p,
      'create',
      `. "$(dirname "$0")/common.sh"; mkdir -p "$DIR"; truncate -s 1M "$IMG"; sleep 60 & echo $! > ${pidFile}`,
    ),
  );
  const daemon = sr('daemon');
  await proc.sr_create(ctx, daemon);
  const t1 = Date.now();
  const dv = await proc.blockdev_create(ctx, daemon, randomUUID(), MiB);
  assert.ok(Date.now() - t1 < 3000, 'not held back by the daemon');
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.doesNotThrow(() => process.kill(pid, 0), 'the daemon still runs');
  process.kill(pid, 'SIGKILL');
  await proc.blockdev_remove(ctx, daemon, dv.location);

  // A failing create: its last lines of output are in the error.
  provider(providers, 'fails', (p) => script(p, 'create', 'echo "no room on the array" >&2; exit 3'));
  const fails = sr('fails');
  await proc.sr_create(ctx, fails);
  await assert.rejects(proc.blockdev_create(ctx, fails, randomUUID(), MiB), (e) => {
    assert.ok(backendFailure(e));
    assert.match(
      (e as XenApiError).params[2],
      /exited with status 3\), last lines of output: no room on the array/,
    );
    return true;
  });

  // Garbage from attach: not a /dev path, a regular file, nothing at all.
  for (const [name, out] of [
    ['garbage', 'echo "$(head -c 300 /dev/urandom | base64)"'],
    ['notdev', 'echo /etc/passwd'],
    ['traversal', 'echo /dev/../etc/passwd'],
    ['empty', 'true'],
  ] as const) {
    provider(providers, name, (p) => script(p, 'attach', out));
    const cfg = sr(name);
    await proc.sr_create(ctx, cfg);
    const v = await proc.blockdev_create(ctx, cfg, randomUUID(), MiB);
    await assert.rejects(attachVolume(cfg, v.location, ctx), (e) => {
      assert.ok(backendFailure(e), String(e));
      assert.match((e as XenApiError).params[2], /attach (printed|printed no)/);
      return true;
    });
    assert.ok(!existsSync(v.path));
    await proc.blockdev_remove(ctx, cfg, v.location);
  }

  // A hanging attach.
  provider(providers, 'attachhangs', (p) => script(p, 'attach', 'sleep 600'));
  const ah = sr('attachhangs');
  await proc.sr_create(ctx, ah);
  const ahv = await proc.blockdev_create(ctx, ah, randomUUID(), MiB);
  await assert.rejects(attachVolume(ah, ahv.location, ctx), /timed out/);
  await proc.blockdev_remove(ctx, ah, ahv.location);

  // Missing and non-executable required scripts; no parameters.list.
  provider(providers, 'nogrow', (p) => rmSync(join(p, 'grow')));
  provider(providers, 'noexec', (p) => chmodSync(join(p, 'verify'), 0o644));
  provider(providers, 'nolist', (p) => rmSync(join(p, 'parameters.list')));
  for (const [name, re] of [
    ['nogrow', /missing or non-executable script\(s\): grow/],
    ['noexec', /missing or non-executable script\(s\): verify/],
    ['nolist', /no parameters.list/],
    ['absent', /provider absent not found/],
  ] as const)
    await assert.rejects(proc.sr_create(ctx, sr(name)), (e) => {
      assert.ok(backendFailure(e));
      assert.match((e as XenApiError).params.join(' '), re);
      return true;
    });

  // Names: a provider or volume name with a path in it never reaches the filesystem.
  for (const name of ['../loopfile', 'a/b', '.hidden', '..', ''])
    await assert.rejects(proc.sr_create(ctx, sr(name)), /INVALID_VALUE/);
  provider(providers, 'loopfile');
  const ok = sr('loopfile');
  await proc.sr_create(ctx, ok);
  for (const bad of ['../../etc/x', 'a/b', '.x', 'x..y'])
    await assert.rejects(proc.blockdev_create(ctx, ok, bad, MiB), /INVALID_VALUE/);
  // A parameter the provider does not list, or a bad parameter name.
  await assert.rejects(
    proc.sr_create(ctx, sr('loopfile', { size: '1' })),
    /not a parameter of ExtStorage provider loopfile/,
  );
  await assert.rejects(proc.sr_create(ctx, sr('loopfile', { 'a;b': '1' })), /INVALID_VALUE/);

  // Injection: a parameter value with shell syntax is data, never run.
  const marker = join(data, 'injected');
  const odd = `${data}/x"; touch ${marker}; echo "$(touch ${marker})`;
  const inj = sr('loopfile', { dir: odd });
  await proc.sr_create(ctx, inj);
  const iv = await proc.blockdev_create(ctx, inj, randomUUID(), MiB);
  assert.ok(existsSync(join(odd, `${iv.location}.img`)), 'the value is one literal directory name');
  assert.ok(!existsSync(marker), 'nothing ran');
  await proc.blockdev_remove(ctx, inj, iv.location);
});

test('ext SR: without a snapshot script, clone is SR_OPERATION_NOT_SUPPORTED', async (t) => {
  const { providers, ctx, sr } = setup(t);
  provider(providers, 'nosnap', (p) => rmSync(join(p, 'snapshot')));
  const cfg = sr('nosnap');
  await proc.sr_create(ctx, cfg);
  const v = await proc.blockdev_create(ctx, cfg, randomUUID(), MiB);
  await assert.rejects(proc.blockdev_snapshot(ctx, cfg, v.location, randomUUID()), (e) => {
    assert.ok(e instanceof XenApiError);
    assert.deepEqual([e.code, e.params], ['SR_OPERATION_NOT_SUPPORTED', [cfg.uuid]]);
    return true;
  });
  await proc.blockdev_remove(ctx, cfg, v.location);
});

test('ext provider pure parts: parameters.list, attach output', () => {
  assert.deepEqual(parseParameters('# c\ndir where files go\n\nbad-name x\npool  the pool\n'), {
    dir: 'where files go',
    pool: 'the pool',
  });
  assert.throws(() => attachedDevice('', 'p'), /printed no block device/);
  assert.throws(() => attachedDevice('/dev/../etc/passwd\n', 'p'), /not a \/dev path/);
  assert.throws(() => attachedDevice('/dev/null\n', 'p'), /not a block device/);
  assert.throws(() => attachedDevice('/dev/nonexistent-berth\n', 'p'), /does not exist/);
});
