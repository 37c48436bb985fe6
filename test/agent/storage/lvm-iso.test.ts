// lvm SR on loop devices this test creates (and always removes), and the iso SR on a directory.
// LV operations are tested for what the host can do: with device-mapper (/dev/mapper/control) a
// volume is created, cloned and removed; without it every LV operation must fail cleanly with
// LVM's own message and leave nothing behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as lvm from '../../../src/agent/storage/lvm.js';
import { vgName } from '../../../src/agent/storage/lvm-sr.js';
import * as proc from '../../../src/agent/storage/procedures.js';
import type { SrConfig } from '../../../src/agent/storage/types.js';
import { deviceMapper } from '../../helpers/capabilities.js';
import { tempDir } from '../../helpers/tmp.js';

const MiB = 1024 * 1024;
const quiet = (cmd: string, args: string[]) => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
};

test('lvm SR: VG on loop devices, probe, sizes; LVs where device-mapper exists, clean failures elsewhere', async (t) => {
  const dir = tempDir(t, 'berth-lvm-');
  const loops: string[] = [];
  const sr: SrConfig = { uuid: randomUUID(), type: 'lvm', deviceConfig: {} };
  t.after(() => {
    quiet('vgremove', ['-y', '-f', vgName(sr.uuid)]);
    for (const l of loops) {
      quiet('pvremove', ['-y', '-ff', l]);
      quiet('losetup', ['-d', l]);
    }
  });
  for (const i of [0, 1]) {
    const img = join(dir, `disk${i}.img`);
    writeFileSync(img, '');
    execFileSync('truncate', ['-s', '64M', img]);
    loops.push(execFileSync('losetup', ['-f', '--show', img]).toString().trim());
  }
  sr.deviceConfig.device = loops.join(',');
  const ctx = { allowedRoots: [dir], stateDir: join(dir, 'state') };

  const stats = await proc.sr_create(ctx, sr);
  // Two 64 MiB PVs less LVM metadata, in 4 MiB extents.
  assert.ok(stats.physicalSize > 100 * MiB && stats.physicalSize <= 128 * MiB, String(stats.physicalSize));
  assert.equal(stats.free, stats.physicalSize);
  assert.equal(stats.physicalUtilisation, 0);
  const pvs = await lvm.pvs(loops);
  assert.deepEqual(
    pvs.map((p) => p.vg_name),
    [vgName(sr.uuid), vgName(sr.uuid)],
  );

  const found = await proc.sr_probe(ctx, 'lvm', { device: loops[0] });
  assert.deepEqual(
    found.map((f) => f.uuid),
    [sr.uuid],
  );
  assert.equal(found[0].size, stats.physicalSize);

  // The same devices cannot become a second SR.
  await assert.rejects(
    proc.sr_create(ctx, { ...sr, uuid: randomUUID() }),
    (e: any) => e.code === 'SR_BACKEND_FAILURE' && e.params[0] === 'SRInUse',
  );
  assert.deepEqual((await proc.sr_attach(ctx, sr)).fixed, []);
  assert.deepEqual((await proc.sr_scan(ctx, sr)).volumes, []);

  await assert.rejects(
    proc.blockdev_create(ctx, sr, randomUUID(), 1024 * MiB),
    (e: any) => e.code === 'SR_FULL',
  );
  const dm = deviceMapper();
  if (dm.ok) {
    t.diagnostic('device-mapper present: creating, cloning and removing LVs');
    const a = randomUUID();
    const va = await proc.blockdev_create(ctx, sr, a, 8 * MiB);
    assert.equal(va.format, 'raw');
    assert.equal(va.virtualSize, 8 * MiB);
    assert.ok(existsSync(va.path), va.path);
    writeFileSync(va.path, 'BERTH-LVM-MARK');
    const c = randomUUID();
    const vc = await proc.blockdev_snapshot(ctx, sr, a, c);
    assert.equal(vc.virtualSize, 8 * MiB);
    assert.equal(execFileSync('head', ['-c', '14', vc.path]).toString(), 'BERTH-LVM-MARK');
    assert.deepEqual((await proc.sr_scan(ctx, sr)).volumes.map((v) => v.location).sort(), [a, c].sort());
    await proc.blockdev_remove(ctx, sr, c);
    await proc.blockdev_remove(ctx, sr, a);
  } else {
    t.diagnostic(`${dm.reason}: LV creation must fail cleanly`);
    await assert.rejects(proc.blockdev_create(ctx, sr, randomUUID(), 8 * MiB), (e: any) => {
      assert.equal(e.code, 'SR_BACKEND_FAILURE');
      assert.equal(e.params[0], 'LVMCreate');
      assert.match(e.params[2], /lvcreate/);
      assert.match(e.params[2], /device-mapper|mapper/i);
      return true;
    });
  }
  assert.deepEqual(
    (await lvm.lvs(vgName(sr.uuid))).filter((l) => !String(l.lv_name).startsWith('[')),
    [],
    'no LV left',
  );

  await proc.sr_destroy(ctx, sr);
  assert.deepEqual(await lvm.vgs().then((v) => v.filter((x) => x.vg_name === vgName(sr.uuid))), []);
  assert.deepEqual(
    (await lvm.pvs().catch(() => [])).filter((p) => loops.includes(p.pv_name)),
    [],
  );
});

test('lvm SR: bad device_config is refused before anything runs', async (t) => {
  const ctx = { allowedRoots: ['/tmp'], stateDir: tempDir(t) };
  for (const device of ['', '/etc/passwd', '/dev/../etc/x', 'sdb', '/dev/berth-no-such-disk'])
    await assert.rejects(
      proc.sr_create(ctx, { uuid: randomUUID(), type: 'lvm', deviceConfig: { device } }),
      (e: any) => ['SR_BACKEND_FAILURE', 'INVALID_VALUE'].includes(e.code),
    );
});

test('iso SR: images appear as read-only raw volumes; nothing can be written', async (t) => {
  const dir = tempDir(t, 'berth-iso-');
  writeFileSync(join(dir, 'a.iso'), Buffer.alloc(2048, 1));
  writeFileSync(join(dir, 'readme.txt'), 'x');
  const ctx = { allowedRoots: [dir], stateDir: join(dir, '.state') };
  const sr: SrConfig = { uuid: randomUUID(), type: 'iso', deviceConfig: { location: dir } };
  await proc.sr_create(ctx, sr);
  const { volumes } = await proc.sr_scan(ctx, sr);
  assert.deepEqual(volumes, [
    {
      location: 'a.iso',
      path: join(dir, 'a.iso'),
      format: 'raw',
      virtualSize: 2048,
      physicalUtilisation: 2048,
      readOnly: true,
    },
  ]);
  await assert.rejects(
    proc.blockdev_create(ctx, sr, randomUUID(), MiB),
    (e: any) => e.code === 'SR_OPERATION_NOT_SUPPORTED',
  );
  await assert.rejects(
    proc.blockdev_snapshot(ctx, sr, 'a.iso', randomUUID()),
    (e: any) => e.code === 'SR_OPERATION_NOT_SUPPORTED',
  );
  assert.equal(await proc.blockdev_find(ctx, sr, '../etc/passwd'), null);
});
