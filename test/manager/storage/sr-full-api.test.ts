// SR_FULL over the API: a file SR on a 2 MiB tmpfs (mounted by this test, always unmounted) answers VDI.create with SR_FULL [requested, available], not
// SR_BACKEND_FAILURE with qemu-img's "No space left on device".
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startStorageManager } from './harness.js';

const GiB = 1024 ** 3;

test('VDI.create on a full file SR is SR_FULL', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'berth-defects-srfullapi-'));
  const mnt = join(base, 'mnt');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mnt]);
  // Registered before the manager's own cleanup, so it runs first (hooks run in order); the
  // directory goes after the manager closed (it archives its RRDs into DATA at close).
  t.after(() => execFileSync('umount', ['-l', mnt]));
  const dataDir = join(base, 'data');
  const m = await startStorageManager(t, { dataDir, agentStorage: { roots: [join(dataDir, 'sr'), mnt] } });
  t.after(() => rmSync(base, { recursive: true, force: true }));
  const host = m.manager.svc.hostRef();
  const sr = await m.call(
    'SR.create',
    host,
    { location: join(mnt, 'sr') },
    0,
    'small',
    '',
    'file',
    '',
    false,
    {},
  );
  const s = statfsSync(mnt);
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(s.bavail * s.bsize - 64 * 1024));
  const rec = {
    SR: sr,
    virtual_size: GiB,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
  };
  await assert.rejects(m.call('VDI.create', { ...rec, name_label: 'big' }), (e: any) => {
    assert.equal(e.code, 'SR_FULL', `${e.code} ${JSON.stringify(e.params)}`);
    assert.ok(Number(e.params[0]) > Number(e.params[1]), JSON.stringify(e.params));
    return true;
  });
  assert.deepEqual(await m.call('SR.get_VDIs', sr), []);
});
