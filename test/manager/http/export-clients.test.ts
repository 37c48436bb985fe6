// /export through real clients: Berth's xe client code (runThinClient) running `xe vm-export`
// and `snapshot-export-to-template` against the manager's /cli, and Xen Orchestra's xen-api
// package's getResource as XO's backups call it. Every file is checked by Python (tarfile +
// xxhash) and its disks compared with qemu-img's reading of the sources.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createClient, type Xapi } from 'xen-api';
import { tempDir } from '../../helpers/tmp.js';
import { xe as runXe } from '../cli/harness.js';
import { checkXva, exportFixture, rebuiltShas } from './export-harness.js';

test('xe vm-export / snapshot-export-to-template and xen-api getResource', {
  timeout: 240_000,
}, async (t) => {
  const dir = tempDir(t);
  const { m, vm, vmUuid, expected } = await exportFixture(t, dir);
  const xe = (args: string[]) => runXe(m, args, { via: 'tcp', progress: true });

  const plain = join(dir, 'xe.xva');
  const r = await xe(['vm-export', `uuid=${vmUuid}`, `filename=${plain}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Export succeeded/);
  assert.match(r.stderr, /100% \[#{40}\]/, 'progress drawn on the terminal');
  assert.deepEqual(rebuiltShas(checkXva(plain, dir)), expected);

  const zst = join(dir, 'xe.xva.zst');
  const z = await xe(['vm-export', 'vm=export-vm', `filename=${zst}`, 'compress=zstd']);
  assert.equal(z.code, 0, z.stderr);
  const tar = join(dir, 'xe-zstd.tar');
  writeFileSync(tar, execFileSync('zstd', ['-dc', zst], { maxBuffer: 1 << 30 }));
  assert.deepEqual(rebuiltShas(checkXva(tar, dir)), expected);

  const meta = join(dir, 'xe-meta.xva');
  const mm = await xe(['vm-export', `uuid=${vmUuid}`, `filename=${meta}`, 'metadata=true']);
  assert.equal(mm.code, 0, mm.stderr);
  const mx = checkXva(meta, dir);
  assert.deepEqual(mx.names, []);
  assert.deepEqual(
    mx.vms.map((v) => v.uuid),
    [vmUuid],
  );

  const snap = await m.call<string>('VM.snapshot', vm, 'for xe', []);
  const snapUuid = await m.call<string>('VM.get_uuid', snap);
  const sf = join(dir, 'snap.xva');
  const s = await xe(['snapshot-export-to-template', `snapshot-uuid=${snapUuid}`, `filename=${sf}`]);
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual([...rebuiltShas(checkXva(sf, dir)).values()].sort(), [...expected.values()].sort());
  const notSnap = await xe(['snapshot-export-to-template', `snapshot-uuid=${vmUuid}`, `filename=${sf}2`]);
  assert.equal(notSnap.code, 1);
  assert.match(notSnap.stderr, /is not a VM snapshot/);
  // A running VM: the handler's VM_BAD_POWER_STATE is the command's error.
  m.manager.db.update('VM', vm, { power_state: 'Running' });
  const running = await xe(['vm-export', `uuid=${vmUuid}`, `filename=${join(dir, 'running.xva')}`]);
  m.manager.db.update('VM', vm, { power_state: 'Halted' });
  assert.equal(running.code, 1);
  assert.match(
    running.stderr,
    /not in an appropriate power state[\s\S]*expected: halted, suspended\nactual: running/,
  );

  // Xen Orchestra's xen-api: getResource with its own task, the body streamed.
  const xapi: Xapi = createClient({
    url: m.httpUrl,
    auth: { user: 'root', password: m.rootPassword },
    watchEvents: ['task'],
    debounce: 10,
  });
  await xapi.connect();
  t.after(() => xapi.disconnect());
  const res = await (xapi as any).getResource('/export/', {
    query: { ref: vm, use_compression: 'zstd' },
  });
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c);
  await res.task;
  const xo = join(dir, 'xo.xva.zst');
  writeFileSync(xo, Buffer.concat(chunks));
  const xoTar = join(dir, 'xo.tar');
  writeFileSync(xoTar, execFileSync('zstd', ['-dc', xo], { maxBuffer: 1 << 30 }));
  assert.deepEqual(rebuiltShas(checkXva(xoTar, dir)), expected);
  await xapi.disconnect();
});
