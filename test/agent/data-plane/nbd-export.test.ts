// NBD exports of volumes through a real agent (qemu-storage-daemon on a Unix socket) read and
// written with Berth's NBD client, checked against tools nobody here wrote: qemu-img (convert,
// map, compare), qemu-io, nbdinfo. Every daemon ends on close, on agent stop, and at the next
// agent's start when an agent died without closing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { QSD_MALLOC_TUNABLES } from '../../../src/agent/data-plane/qsd-args.js';
import { startAgentIn, type TestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { runChecked } from '../../../src/shared/exec.js';
import { XenApiError } from '../../../src/shared/errors.js';
import type { NbdExport } from '../../../src/shared/host/data-plane.js';
import type { SrConfig } from '../../../src/shared/host/storage.js';
import {
  BASE_ALLOCATION,
  connectNbd,
  dirtyBitmapContext,
  extents,
  NbdError,
  readStream,
  writeStream,
} from '../../../src/shared/nbd/index.js';
import { writePattern } from '../storage/helpers.js';

const MiB = 1024 * 1024;

/** Pids of qemu-storage-daemons whose command line names something under `dir`. */
function daemonsUnder(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const zombie = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
      if (!zombie && argv.includes('qemu-storage-daemon') && argv.includes(dir)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

interface Setup {
  dir: string;
  a: TestAgent;
  sr: SrConfig;
  location: string;
  path: string;
}

/** An agent, a file SR and a 64 MiB qcow2 volume; every daemon under the dir killed at the end. */
async function setup(t: TestContext): Promise<Setup> {
  let a: TestAgent | undefined;
  let dir = '';
  // Registered before tempDir's removal hook, so it runs first.
  t.after(async () => {
    a?.client.close();
    await a?.agent.close();
    for (const pid of dir ? daemonsUnder(dir) : []) process.kill(pid, 'SIGKILL');
  });
  dir = tempDir(t, 'berth-nbd-');
  a = await startAgentIn(dir);
  const sr = { uuid: randomUUID(), type: 'file', deviceConfig: { location: join(dir, 'state', 'sr', 'a') } };
  await a.client.sr_create(sr);
  const location = randomUUID();
  const v = await a.client.blockdev_create(sr, location, 64 * MiB);
  return { dir, a, sr, location, path: v.path };
}

/** The guest-visible bytes of an image, by qemu-img. */
async function imageBytes(dir: string, path: string): Promise<Buffer> {
  const raw = join(dir, `ref-${randomUUID()}.raw`);
  await runChecked('qemu-img', ['convert', '-U', '-O', 'raw', path, raw]);
  return readFileSync(raw);
}

/** Runs of (data, zero) merged, from qemu-img map's JSON. */
function mergeRuns(runs: { offset: number; length: number; key: string }[]) {
  const out: { offset: number; length: number; key: string }[] = [];
  for (const r of runs) {
    const last = out.at(-1);
    if (last && last.key === r.key && last.offset + last.length === r.offset) last.length += r.length;
    else out.push({ ...r });
  }
  return out;
}

async function writeKnownData(path: string) {
  await writePattern(path, 'qcow2', 0xab, 1 * MiB, 3 * MiB);
  await writePattern(path, 'qcow2', 0xcd, 10 * MiB + 64 * 1024, 128 * 1024);
  await writePattern(path, 'qcow2', 0x11, 64 * MiB - 512 * 1024, 512 * 1024);
  await runChecked('qemu-io', ['-f', 'qcow2', '-c', `write -z ${20 * MiB} ${MiB}`, path]);
}

const exportUri = (x: NbdExport) => `nbd+unix:///${x.exportName}?socket=${x.socket}`;

test('a volume read over NBD matches qemu-img; extents match qemu-img map and nbdinfo', async (t) => {
  const s = await setup(t);
  await writeKnownData(s.path);
  const x = await s.a.client.blockdev_nbd_open(s.sr, s.location, { readOnly: true });
  assert.equal(x.size, 64 * MiB);
  assert.equal(x.readOnly, true);
  assert.equal(x.exportName, s.location);
  assert.ok(x.socket.startsWith(join(s.dir, 'run')), x.socket);
  assert.deepEqual(await s.a.client.blockdev_nbd_list(), [x]);

  const c = await connectNbd(
    { socket: x.socket },
    { exportName: x.exportName, metaContexts: [BASE_ALLOCATION] },
  );
  t.after(() => c.destroy());
  assert.equal(c.size, 64 * MiB);
  assert.equal(c.readOnly, true);

  // Bytes: the whole export in order, against qemu-img's own reading of the image.
  const chunks: Buffer[] = [];
  for await (const d of readStream(c, { chunkSize: 3 * MiB + 512, maxInFlight: 4 })) chunks.push(d);
  const got = Buffer.concat(chunks);
  const want = await imageBytes(s.dir, s.path);
  assert.equal(got.length, want.length);
  assert.ok(got.equals(want), 'NBD bytes differ from qemu-img convert');
  // A read across data and hole.
  const edge = await c.read(4 * MiB - 2, 4);
  assert.deepEqual([...edge], [0xab, 0xab, 0, 0]);

  // Block status against qemu-img map (data ⇔ not a hole, zero ⇔ reads as zero).
  const map = JSON.parse(
    await runChecked('qemu-img', ['map', '-U', '--output=json', '-f', 'qcow2', s.path]),
  ) as { start: number; length: number; data: boolean; zero: boolean }[];
  const fromMap = mergeRuns(
    map.map((m) => ({
      offset: m.start,
      length: m.length,
      key: `${m.data ? 'data' : 'hole'},${m.zero ? 'zero' : ''}`,
    })),
  );
  const fromNbd: { offset: number; length: number; key: string }[] = [];
  for await (const e of extents(c, BASE_ALLOCATION))
    fromNbd.push({
      offset: e.offset,
      length: e.length,
      key: `${e.hole ? 'hole' : 'data'},${e.zero ? 'zero' : ''}`,
    });
  assert.deepEqual(mergeRuns(fromNbd), fromMap);
  assert.ok(
    fromNbd.some((e) => e.key === 'data,'),
    'some data extents',
  );
  assert.ok(
    fromNbd.some((e) => e.key === 'hole,zero'),
    'some holes',
  );

  // An independent reader on the same socket agrees.
  const info = JSON.parse(await runChecked('nbdinfo', ['--map', '--json', exportUri(x)])) as {
    offset: number;
    length: number;
    type: number;
  }[];
  assert.deepEqual(
    mergeRuns(info.map((m) => ({ offset: m.offset, length: m.length, key: String(m.type) }))),
    mergeRuns(
      fromNbd.map((e) => ({
        ...e,
        key: String((e.key.startsWith('hole') ? 1 : 0) | (e.key.endsWith('zero') ? 2 : 0)),
      })),
    ),
  );

  await c.disconnect();
  const pid = Number(readFileSync(join(s.dir, 'run', 'nbd', `${x.id}.pid`), 'utf8'));
  // The daemon runs with the malloc tunables that keep its per-request buffers warm (qsdEnv;
  // glibc splits the variable at its colons in place once parsed, hence the prefix match).
  const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  const first = QSD_MALLOC_TUNABLES.split(':')[0];
  assert.ok(
    environ.some((e) => e.startsWith(`GLIBC_TUNABLES=${first}`)),
    'GLIBC_TUNABLES set',
  );
  await s.a.client.blockdev_nbd_close(x.id);
  assert.equal(existsSync(x.socket), false, 'socket removed');
  assert.equal(
    existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(x.socket),
    false,
  );
  assert.deepEqual(daemonsUnder(s.dir), []);
  assert.deepEqual(await s.a.client.blockdev_nbd_list(), []);
  // Closing again is no error.
  await s.a.client.blockdev_nbd_close(x.id);
});

test('writes over NBD land in the image: qemu-img compare against qemu-io writes', async (t) => {
  const s = await setup(t);
  await writeKnownData(s.path);
  const ref = join(s.dir, 'ref.qcow2');
  copyFileSync(s.path, ref);

  const x = await s.a.client.blockdev_nbd_open(s.sr, s.location, { readOnly: false });
  assert.equal(x.readOnly, false);
  // A second writer of the same image is refused (the first holds the image's write lock).
  await assert.rejects(s.a.client.blockdev_nbd_open(s.sr, s.location, { readOnly: false }), (e: unknown) => {
    assert.ok(e instanceof XenApiError);
    assert.equal(e.code, 'VDI_IN_USE');
    return true;
  });
  const c = await connectNbd({ socket: x.socket }, { exportName: x.exportName });
  t.after(() => c.destroy());
  assert.equal(c.readOnly, false);
  // A stream of 5 MiB at 30 MiB: 1 MiB of 0x5a, 1 MiB of zeroes (WRITE_ZEROES), 3 MiB of 0x77.
  async function* source() {
    yield Buffer.alloc(MiB, 0x5a);
    yield Buffer.alloc(MiB, 0);
    yield Buffer.alloc(3 * MiB, 0x77);
  }
  assert.equal(await writeStream(c, source(), { offset: 30 * MiB, maxInFlight: 2 }), 5 * MiB);
  await c.write(512, Buffer.alloc(1024, 0x42));
  await c.writeZeroes(2 * MiB, MiB); // inside the 0xab run
  await c.flush();
  await c.disconnect();
  await s.a.client.blockdev_nbd_close(x.id);

  for (const cmd of [
    `write -P 0x5a ${30 * MiB} ${MiB}`,
    `write -z ${31 * MiB} ${MiB}`,
    `write -P 0x77 ${32 * MiB} ${3 * MiB}`,
    'write -P 0x42 512 1024',
    `write -z ${2 * MiB} ${MiB}`,
  ])
    await runChecked('qemu-io', ['-f', 'qcow2', '-c', cmd, ref]);
  await runChecked('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', ref, s.path]);
  await runChecked('qemu-img', ['check', s.path]);
  // And they differ from the image before the writes (the comparison can fail).
  const before = join(s.dir, 'before.qcow2');
  await runChecked('qemu-img', ['create', '-f', 'qcow2', before, String(64 * MiB)]);
  await writeKnownData(before);
  await assert.rejects(runChecked('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', before, s.path]));
});

test('a persistent dirty bitmap is exposed as qemu:dirty-bitmap:<name>', async (t) => {
  const s = await setup(t);
  await writePattern(s.path, 'qcow2', 0xab, 0, MiB); // before the bitmap: not dirty
  await runChecked('qemu-img', ['bitmap', '--add', s.path, 'cbt-1']);
  await writePattern(s.path, 'qcow2', 0xcd, 5 * MiB, 64 * 1024);
  await writePattern(s.path, 'qcow2', 0xef, 40 * MiB + 128 * 1024, 256 * 1024);

  const x = await s.a.client.blockdev_nbd_open(s.sr, s.location, { readOnly: true, bitmap: 'cbt-1' });
  assert.ok(x.metaContexts.includes('qemu:dirty-bitmap:cbt-1'));
  const ctx = dirtyBitmapContext('cbt-1');
  const c = await connectNbd(
    { socket: x.socket },
    { exportName: x.exportName, metaContexts: [ctx, BASE_ALLOCATION] },
  );
  t.after(() => c.destroy());
  const dirty: [number, number][] = [];
  let covered = 0;
  for await (const e of extents(c, ctx)) {
    covered += e.length;
    if (e.dirty) dirty.push([e.offset, e.length]);
  }
  assert.equal(covered, 64 * MiB);
  assert.deepEqual(dirty, [
    [5 * MiB, 64 * 1024],
    [40 * MiB + 128 * 1024, 256 * 1024],
  ]);
  await c.disconnect();
  await s.a.client.blockdev_nbd_close(x.id);

  // A bitmap the image lacks is refused, and no daemon stays.
  await assert.rejects(
    s.a.client.blockdev_nbd_open(s.sr, s.location, { readOnly: true, bitmap: 'nope' }),
    (e: unknown) => {
      assert.ok(e instanceof XenApiError);
      assert.equal(e.code, 'INVALID_VALUE');
      assert.equal(e.params[0], 'bitmap');
      return true;
    },
  );
  assert.deepEqual(daemonsUnder(s.dir), []);
  assert.deepEqual(readdirSync(join(s.dir, 'run', 'nbd')), []);
});

test('bad input is refused: unknown location, paths outside the roots, wrong types', async (t) => {
  const s = await setup(t);
  const code = (c: string, p0?: string) => (e: unknown) => {
    assert.ok(e instanceof XenApiError, String(e));
    assert.equal(e.code, c);
    if (p0 !== undefined) assert.equal(e.params[0], p0);
    return true;
  };
  await assert.rejects(
    s.a.client.blockdev_nbd_open(s.sr, randomUUID(), { readOnly: true }),
    code('VDI_MISSING'),
  );
  await assert.rejects(
    s.a.client.blockdev_nbd_open(s.sr, '../../etc/passwd', { readOnly: true }),
    code('VDI_MISSING'),
  );
  const outside = { ...s.sr, deviceConfig: { location: '/etc' } };
  await assert.rejects(
    s.a.client.blockdev_nbd_open(outside, s.location, { readOnly: true }),
    code('INVALID_VALUE', 'device_config:location'),
  );
  const call = (args: unknown[]) => s.a.client.call('blockdev_nbd_open', args);
  await assert.rejects(call([s.sr, s.location]), code('INVALID_VALUE', 'opts'));
  await assert.rejects(call([s.sr, s.location, { readOnly: 'yes' }]), code('INVALID_VALUE', 'opts.readOnly'));
  await assert.rejects(
    call([s.sr, s.location, { readOnly: true, bitmap: 7 }]),
    code('INVALID_VALUE', 'opts.bitmap'),
  );
  await assert.rejects(
    call([s.sr, s.location, { readOnly: true, path: '/etc' }]),
    code('INVALID_VALUE', 'opts.path'),
  );
  await assert.rejects(
    call([s.sr, s.location, { readOnly: true, bitmap: 'a,b=c' }]),
    code('INVALID_VALUE', 'bitmap'),
  );
  await assert.rejects(call([s.sr, 42, { readOnly: true }]), code('INVALID_VALUE', 'location'));
  await assert.rejects(call(['sr', s.location, { readOnly: true }]), code('INVALID_VALUE', 'sr'));
  await assert.rejects(s.a.client.call('blockdev_nbd_close', [{ id: 'x' }]), code('INVALID_VALUE', 'id'));
  assert.deepEqual(daemonsUnder(s.dir), []);

  // A wrong export name is the server's NBD_REP_ERR_UNKNOWN; the export keeps serving.
  const x = await s.a.client.blockdev_nbd_open(s.sr, s.location, { readOnly: true });
  await assert.rejects(connectNbd({ socket: x.socket }, { exportName: 'other' }), (e: unknown) => {
    assert.ok(e instanceof NbdError);
    assert.equal(e.code, 'NBD_REP_ERR_UNKNOWN');
    return true;
  });
  const c = await connectNbd({ socket: x.socket }, { exportName: x.exportName });
  await assert.rejects(
    c.write(0, Buffer.alloc(512)),
    (e: unknown) => e instanceof NbdError && e.code === 'EPERM',
  );
  await assert.rejects(
    c.read(64 * MiB - 512, 1024),
    (e: unknown) => e instanceof NbdError && e.code === 'EINVAL',
  );
  assert.equal((await c.read(0, 512)).length, 512);
  await c.disconnect();
});

test('no daemon outlives the agent: stop ends exports, a new agent ends what a dead one left', async (t) => {
  const s = await setup(t);
  const x1 = await s.a.client.blockdev_nbd_open(s.sr, s.location, { readOnly: true });
  const x2 = await s.a.client.blockdev_nbd_open(s.sr, s.location, { readOnly: true });
  assert.notEqual(x1.socket, x2.socket);
  assert.equal(daemonsUnder(s.dir).length, 2);
  s.a.client.close();
  await s.a.agent.close();
  assert.deepEqual(daemonsUnder(s.dir), []);
  assert.deepEqual(readdirSync(join(s.dir, 'run', 'nbd')), []);

  // An agent that dies without closing (only its RPC server stops here) leaves a daemon…
  const b = await startAgentIn(s.dir);
  t.after(async () => {
    b.client.close();
    await b.agent.close();
  });
  const x3 = await b.client.blockdev_nbd_open(s.sr, s.location, { readOnly: true });
  await b.agent.server.close();
  b.client.close();
  assert.equal(daemonsUnder(s.dir).length, 1);
  // …which the next agent on the same run directory ends at start.
  const c = await startAgentIn(s.dir);
  t.after(async () => {
    c.client.close();
    await c.agent.close();
  });
  assert.deepEqual(daemonsUnder(s.dir), []);
  assert.equal(existsSync(x3.socket), false);
  assert.deepEqual(readdirSync(join(s.dir, 'run', 'nbd')), []);
});
