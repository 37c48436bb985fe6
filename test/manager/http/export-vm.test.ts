// GET /export and /export_metadata against a real manager and agent: disks written by qemu-io,
// the XVA checked and rebuilt by Python (tarfile, xxhash, xmlrpc.client) and compared with
// `qemu-img convert -O raw`; gzip and zstd undone by their CLIs; a snapshot exported after the
// VM's disk changed; two exports at once; cancel and disconnect leave no NBD export and free the
// VM; the framework's errors for bad input.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../helpers/tmp.js';
import { checkXva, exportFixture, imageOf, MiB, qemuIo, rawSha, rebuiltShas } from './export-harness.js';

async function until(what: string, f: () => Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The VM's current_operations become empty (released once the request's task settles). */
const released = (m: { call<T>(w: string, ...a: unknown[]): Promise<T> }, vm: string) =>
  until('the VM to be released', async () => {
    const ops = await m.call<Record<string, string>>('VM.get_current_operations', vm);
    return Object.keys(ops).length === 0;
  });

async function download(url: string, file: string): Promise<Response> {
  const r = await fetch(url);
  if (r.ok) writeFileSync(file, Buffer.from(await r.arrayBuffer()));
  return r;
}

test('/export: an XVA Python verifies, disks identical to qemu-img convert, gzip, zstd', {
  timeout: 180_000,
}, async (t) => {
  const dir = tempDir(t);
  const { m, vm, vmUuid, expected } = await exportFixture(t, dir);
  const base = `${m.httpUrl}/export?session_id=${m.session.ref}`;

  const plain = join(dir, 'plain.xva');
  const r = await download(`${base}&ref=${vm}`, plain);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/octet-stream');
  assert.match(r.headers.get('task-id') ?? '', /^OpaqueRef:/);
  const x = checkXva(plain, dir);
  assert.deepEqual(rebuiltShas(x), expected, 'every disk rebuilt byte for byte');
  assert.deepEqual(x.vms, [{ uuid: vmUuid, power_state: 'Halted', is_a_snapshot: false }]);
  assert.equal(x.version.export_vsn, '2');
  // Zero chunks are left out (chunk 10 was written with zeros), but the first and last stay.
  const d0 = Object.values(x.disks).find((d) => d.size > 10 * MiB)!;
  assert.deepEqual(d0.chunks, [0, 5, 12, 13, 14, 15, 16, 17, 18, 19, 24]);
  const d1 = Object.values(x.disks).find((d) => d.size === 8 * MiB)!;
  assert.deepEqual(d1.chunks, [0, 2, 3, 7]);
  await released(m, vm);

  for (const [param, cmd] of [
    ['gzip', 'gzip'],
    ['true', 'gzip'],
    ['zstd', 'zstd'],
  ]) {
    const file = join(dir, `c-${param}.xva`);
    const rc = await download(`${base}&uuid=${vmUuid}&use_compression=${param}`, file);
    assert.equal(rc.status, 200);
    const tar = join(dir, `c-${param}.tar`);
    writeFileSync(tar, execFileSync(cmd, ['-dc', file], { maxBuffer: 1 << 30 }));
    assert.deepEqual(rebuiltShas(checkXva(tar, dir)), expected, `use_compression=${param}`);
  }

  // preserve_power_state keeps the record's state; a bad boolean is xapi's INVALID_VALUE.
  const kept = join(dir, 'kept.xva');
  assert.equal((await download(`${base}&ref=${vm}&preserve_power_state=true`, kept)).status, 200);
  assert.equal(checkXva(kept, dir).vms[0].power_state, 'Halted');
  const bad = await fetch(`${base}&ref=${vm}&preserve_power_state=yes`);
  assert.equal(bad.status, 500);
  assert.match(await bad.text(), /INVALID_VALUE/);
});

test('/export of a snapshot: its disks as they were; two exports at once', {
  timeout: 180_000,
}, async (t) => {
  const dir = tempDir(t);
  const { m, vm, vdis, expected } = await exportFixture(t, dir);
  const snap = await m.call<string>('VM.snapshot', vm, 'before', []);
  // The VM's first disk changes after the snapshot.
  const live = await imageOf(m, vdis[0]);
  await qemuIo(live, ['write -P 0x77 0 2M']);
  const changed = await rawSha(live, dir, 'changed');
  const base = `${m.httpUrl}/export?session_id=${m.session.ref}`;

  const snapFile = join(dir, 'snap.xva');
  const task = await m.call<string>('task.create', 'snapshot export', '');
  assert.equal((await download(`${base}&ref=${snap}&task_id=${task}`, snapFile)).status, 200);
  await until('the task to succeed', async () => (await m.call('task.get_status', task)) === 'success');
  assert.equal(await m.call('task.get_progress', task), 1);
  const xs = checkXva(snapFile, dir);
  assert.equal(xs.vms.length, 1);
  assert.equal(xs.vms[0].is_a_snapshot, false, '/export clears snapshot metadata');
  assert.deepEqual([...rebuiltShas(xs).values()].sort(), [...expected.values()].sort());

  // Two exports of one VM at once both complete, identical.
  const [a, b] = await Promise.all(
    ['a', 'b'].map(async (n) => {
      const f = join(dir, `${n}.xva`);
      const r = await download(`${base}&ref=${vm}`, f);
      assert.equal(r.status, 200);
      return rebuiltShas(checkXva(f, dir));
    }),
  );
  assert.deepEqual(a, b);
  const vmUuid0 = await m.call<string>('VDI.get_uuid', vdis[0]);
  assert.equal(a.get(vmUuid0), changed, 'the VM exports its current disk');
  await released(m, vm);
});

test('/export_metadata: a tar holding ova.xml, snapshots included, all=true', {
  timeout: 120_000,
}, async (t) => {
  const dir = tempDir(t);
  const { m, vm, vmUuid } = await exportFixture(t, dir);
  const snap = await m.call<string>('VM.snapshot', vm, 'meta', []);
  const snapUuid = await m.call<string>('VM.get_uuid', snap);
  const base = `${m.httpUrl}/export_metadata?session_id=${m.session.ref}`;
  const file = join(dir, 'meta.xva');
  const r = await download(`${base}&ref=${vm}`, file);
  assert.equal(r.status, 200);
  assert.equal(Number(r.headers.get('content-length')), (await import('node:fs')).statSync(file).size);
  const x = checkXva(file, dir);
  assert.deepEqual(x.names, [], 'no disk data');
  assert.deepEqual(
    x.vms.map((v) => [v.uuid, v.is_a_snapshot]).sort(),
    [
      [vmUuid, false],
      [snapUuid, true],
    ].sort(),
  );
  const noSnaps = join(dir, 'nosnap.xva');
  await download(`${base}&uuid=${vmUuid}&export_snapshots=false`, noSnaps);
  assert.deepEqual(
    checkXva(noSnaps, dir).vms.map((v) => v.uuid),
    [vmUuid],
  );
  const all = join(dir, 'all.xva');
  assert.equal((await download(`${base}&all=true`, all)).status, 200);
  const uuids = checkXva(all, dir).vms.map((v) => v.uuid);
  assert.ok(uuids.includes(vmUuid) && uuids.includes(snapUuid), uuids.join());
  const bad = await fetch(`${base}&ref=${vm}&excluded_device_types=floppy`);
  assert.equal(bad.status, 500);
  assert.match(await bad.text(), /INVALID_VALUE/);
  await released(m, vm);
});

/** Pids of qemu-storage-daemon processes whose command line names `dir`. */
function daemonsOf(dir: string): string {
  try {
    return execFileSync('pgrep', ['-f', `qemu-storage-daemon.*${dir}`], { encoding: 'utf8' }).trim();
  } catch {
    return ''; // pgrep: nothing matched
  }
}

/** Exports open on the agent now. */
const openExports = (m: Awaited<ReturnType<typeof exportFixture>>['m']) =>
  m.manager.svc.hosts.local().blockdev_nbd_list();

test('/export: task.cancel and a client that goes away stop it and clean up', {
  timeout: 180_000,
}, async (t) => {
  const dir = tempDir(t);
  const { m, vm } = await exportFixture(t, dir);
  const task = await m.call<string>('task.create', 'export test', '');
  const res = await fetch(`${m.httpUrl}/export?session_id=${m.session.ref}&ref=${vm}&task_id=${task}`);
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  await reader.read(); // the stream has begun; the rest waits (backpressure)
  assert.notEqual(daemonsOf(m.dataDir), '', 'the agent serves the disks with qemu-storage-daemon');
  assert.equal((await openExports(m)).length, 2, 'both disks served over NBD');
  assert.deepEqual(Object.values(await m.call('VM.get_current_operations', vm)), ['export']);
  await m.call('task.cancel', task);
  await assert.rejects(
    (async () => {
      for (;;) if ((await reader.read()).done) throw new Error('ended without an error');
    })(),
  );
  await until('the task to settle', async () => (await m.call('task.get_status', task)) === 'cancelled');
  await until('the NBD exports to close', async () => (await openExports(m)).length === 0);
  assert.deepEqual(await m.call('VM.get_current_operations', vm), {});
  assert.equal(daemonsOf(m.dataDir), '', 'no qemu-storage-daemon left');

  // The client goes away mid-stream.
  const ac = new AbortController();
  const r2 = await fetch(`${m.httpUrl}/export?session_id=${m.session.ref}&ref=${vm}`, { signal: ac.signal });
  await r2.body!.getReader().read();
  assert.equal((await openExports(m)).length, 2);
  ac.abort();
  await until('the NBD exports to close', async () => (await openExports(m)).length === 0);
  await released(m, vm);
});

test('/export: bad input gets the framework errors; a running VM is refused', {
  timeout: 120_000,
}, async (t) => {
  const dir = tempDir(t);
  const { m, vm } = await exportFixture(t, dir);
  const s = m.session.ref;
  const get = async (q: string, init?: RequestInit) => {
    const r = await fetch(`${m.httpUrl}/export?${q}`, init);
    return { status: r.status, body: await r.text(), headers: r.headers };
  };
  const unknown = await get(`session_id=${s}&ref=OpaqueRef:nope`);
  assert.equal(unknown.status, 500);
  assert.match(unknown.body, /HANDLE_INVALID/);
  const badUuid = await get(`session_id=${s}&uuid=00000000-0000-0000-0000-000000000000`);
  assert.equal(badUuid.status, 500);
  assert.match(badUuid.body, /UUID_INVALID/);
  assert.equal((await get(`session_id=${s}`)).status, 400, 'neither ref nor uuid');
  const anon = await get(`ref=${vm}`);
  assert.equal(anon.status, 401);
  assert.match(anon.headers.get('www-authenticate') ?? '', /realm="get_export"/);
  await m.manager.svc.users.add('ro-export', 'read-only', 'ro-pw');
  const auth = `Basic ${Buffer.from('ro-export:ro-pw').toString('base64')}`;
  assert.equal((await get(`ref=${vm}`, { headers: { authorization: auth } })).status, 403);
  const meta = await fetch(`${m.httpUrl}/export_metadata?ref=${vm}`, { headers: { authorization: auth } });
  assert.equal(meta.status, 403);
  // A running VM: xapi's VM_BAD_POWER_STATE (export its snapshot instead); nothing is opened.
  m.manager.db.update('VM', vm, { power_state: 'Running' });
  const running = await get(`session_id=${s}&ref=${vm}`);
  assert.equal(running.status, 500);
  assert.match(running.body, /VM_BAD_POWER_STATE/);
  assert.deepEqual(await m.manager.svc.hosts.local().blockdev_nbd_list(), []);
  m.manager.db.update('VM', vm, { power_state: 'Halted' });
  assert.deepEqual(await m.call('VM.get_current_operations', vm), {});

  // Disks on an SR another member serves: 302 there (the NBD sockets are local), nothing locked.
  const db = m.manager.db;
  const other = db.create('host', { name_label: 'other', hostname: 'other', address: '192.0.2.7' });
  const vdi = String(db.get('VBD', (db.get('VM', vm)!.VBDs as string[])[0])!.VDI);
  const pbd = (db.get('SR', String(db.get('VDI', vdi)!.SR))!.PBDs as string[])[0];
  const here = db.get('PBD', pbd)!.host;
  db.update('PBD', pbd, { host: other });
  const moved = await fetch(`${m.httpUrl}/export?session_id=${s}&ref=${vm}`, { redirect: 'manual' });
  db.update('PBD', pbd, { host: here });
  assert.equal(moved.status, 302);
  assert.match(
    moved.headers.get('location') ?? '',
    /^https?:\/\/192\.0\.2\.7(:\d+)?\/export\?session_id=.*&ref=/,
  );
  assert.deepEqual(await m.call('VM.get_current_operations', vm), {});
  assert.deepEqual(await m.manager.svc.hosts.local().blockdev_nbd_list(), []);
});
