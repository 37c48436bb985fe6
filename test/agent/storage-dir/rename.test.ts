// Ganeti's file_storage_dir_rename on the agent: a file SR's directory moved inside the SR roots,
// and every way out refused with nothing moved (traversal, symlink escapes, an existing target,
// the SR attached or a file of it open, another SR's directory, another SR type).
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { storageDirProcedures } from '../../../src/agent/storage-dir/rpc.js';
import { fileDriver } from '../../../src/agent/storage/file-sr.js';
import type { DriverContext } from '../../../src/agent/storage/types.js';
import { tempDir } from '../../helpers/tmp.js';

async function setup(t: import('node:test').TestContext) {
  const base = tempDir(t, 'berth-mip-dir-');
  const root = join(base, 'srs');
  const outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  const ctx = { allowedRoots: [root] } as unknown as DriverContext;
  const sr = { uuid: 'sr-1', type: 'file', deviceConfig: { location: join(root, 'a') } };
  await fileDriver.create(sr, ctx);
  writeFileSync(join(root, 'a', 'vol.qcow2'), 'x');
  return { root, outside, sr };
}

test('file_storage_dir_rename moves the SR directory inside the roots', async (t) => {
  const { root, sr } = await setup(t);
  const p = storageDirProcedures({ allowedRoots: [root], isAttached: () => false, openPaths: () => [] });
  await p.file_storage_dir_rename(sr, join(root, 'b'));
  assert.equal(existsSync(join(root, 'a')), false);
  assert.equal(existsSync(join(root, 'b', 'vol.qcow2')), true);
  assert.equal(existsSync(join(root, 'b', '.berth-sr')), true);
});

test('file_storage_dir_rename refuses every way out, moving nothing', async (t) => {
  const { root, outside, sr } = await setup(t);
  let attached = false;
  const open: string[] = [];
  const p = storageDirProcedures({ allowedRoots: [root], isAttached: () => attached, openPaths: () => open });
  const stays = () => assert.equal(existsSync(join(root, 'a', 'vol.qcow2')), true);
  // Traversal and paths outside the roots.
  for (const bad of [`${root}/../outside/x`, join(outside, 'x'), 'relative/x', '/', `${root}//x`])
    await assert.rejects(p.file_storage_dir_rename(sr, bad), /INVALID_VALUE: location/);
  // A symlink inside the roots that leads out of them: the target's real path is checked.
  symlinkSync(outside, join(root, 'escape'));
  await assert.rejects(p.file_storage_dir_rename(sr, join(root, 'escape', 'x')), /resolves outside/);
  assert.equal(existsSync(join(outside, 'x')), false);
  // The SR's location itself a symlink (to its real directory): refused, not the link moved.
  symlinkSync(join(root, 'a'), join(root, 'alias'));
  await assert.rejects(
    p.file_storage_dir_rename({ ...sr, deviceConfig: { location: join(root, 'alias') } }, join(root, 'c')),
    /SRUnavailable.*not a directory/,
  );
  // An SR location outside the roots (a forged device_config).
  await assert.rejects(
    p.file_storage_dir_rename({ ...sr, deviceConfig: { location: outside } }, join(root, 'c')),
    /INVALID_VALUE: device_config:location/,
  );
  // Another SR's directory.
  await assert.rejects(
    p.file_storage_dir_rename({ ...sr, uuid: 'sr-2' }, join(root, 'c')),
    /does not hold SR sr-2/,
  );
  // The target exists (a file or a directory), or lies inside the SR.
  writeFileSync(join(root, 'taken'), '');
  await assert.rejects(p.file_storage_dir_rename(sr, join(root, 'taken')), /FileStorageDirExists/);
  await assert.rejects(p.file_storage_dir_rename(sr, join(root, 'a', 'sub')), /inside the SR directory/);
  // In use: attached here, or a file of it open by a process.
  attached = true;
  await assert.rejects(p.file_storage_dir_rename(sr, join(root, 'c')), /SRInUse.*attached/);
  attached = false;
  open.push(join(root, 'a', 'vol.qcow2'));
  await assert.rejects(p.file_storage_dir_rename(sr, join(root, 'c')), /SRInUse.*is open/);
  // Bad arguments and other SR types.
  await assert.rejects(
    p.file_storage_dir_rename({ ...sr, type: 'lvm' }, join(root, 'c')),
    /SR_OPERATION_NOT_SUPPORTED/,
  );
  await assert.rejects(p.file_storage_dir_rename(sr, 5), /INVALID_VALUE: location/);
  await assert.rejects(p.file_storage_dir_rename('sr-1', join(root, 'c')), /INVALID_VALUE: sr/);
  stays();
  assert.equal(existsSync(join(root, 'c')), false);
});

test('the default open-file check reads /proc: a file held open here blocks the move', async (t) => {
  const { root, sr } = await setup(t);
  const p = storageDirProcedures({ allowedRoots: [root], isAttached: () => false });
  const fd = openSync(join(root, 'a', 'vol.qcow2'), 'r');
  try {
    await assert.rejects(p.file_storage_dir_rename(sr, join(root, 'c')), /SRInUse/);
  } finally {
    closeSync(fd);
  }
  await p.file_storage_dir_rename(sr, join(root, 'c'));
  assert.equal(existsSync(join(root, 'c', 'vol.qcow2')), true);
});
