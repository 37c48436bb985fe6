// Real loop-device storage for the device plugin tests: a loop device with ext4 mounted on a temp
// dir, and a second one as an LVM PV in a VG (this kernel has no device-mapper: no LVs). Unique
// names per call; everything is undone when the test ends (unmount, vgremove, pvremove, detach).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { run, runChecked } from '../../src/shared/exec.js';
import { tempDir } from './tmp.js';

export interface LoopStorage {
  /** The mounted ext4 loop device, its mount point and major:minor. */
  fsLoop: string;
  mountPoint: string;
  /** The loop device holding the VG's only PV. */
  pvLoop: string;
  vg: string;
}

const LVM_ENV = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' };

export async function makeLoopStorage(
  t: TestContext,
  name = 'feed',
  opts: { mountPoint?: string } = {},
): Promise<LoopStorage> {
  const dir = tempDir(t, `berth-${name}-loop-`);
  const undo: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const u of undo.reverse()) await u().catch(() => undefined);
  });
  const attach = async (file: string) => {
    writeFileSync(file, '');
    await runChecked('truncate', ['-s', '64M', file]);
    const dev = (await runChecked('losetup', ['--find', '--show', file])).trim();
    undo.push(() => run('losetup', ['-d', dev]));
    return dev;
  };
  const fsLoop = await attach(join(dir, 'fs.img'));
  await runChecked('mkfs.ext4', ['-q', '-F', fsLoop]);
  // A caller's mount point (e.g. inside an agent's SR roots) is made if absent.
  const mountPoint = opts.mountPoint ?? join(dir, 'mnt');
  mkdirSync(mountPoint, { recursive: true });
  await runChecked('mount', [fsLoop, mountPoint]);
  undo.push(() => run('umount', [mountPoint]));
  const pvLoop = await attach(join(dir, 'pv.img'));
  const vg = `berth_${name}_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  await runChecked('pvcreate', ['-q', '-y', pvLoop], { env: LVM_ENV });
  undo.push(() => run('pvremove', ['-q', '-y', '-ff', pvLoop], { env: LVM_ENV }));
  await runChecked('vgcreate', ['-q', vg, pvLoop], { env: LVM_ENV });
  undo.push(() => run('vgremove', ['-q', '-f', vg], { env: LVM_ENV }));
  return { fsLoop, mountPoint, pvLoop, vg };
}
