// NBD exports of a running VM's disk through its own QEMU (instance_nbd_open): QEMU runs as an
// unprivileged user (nobody) and gets its listening socket as a descriptor; the bytes read match
// qemu-img's reading of the image, a persistent dirty bitmap shows what changed, and closing
// the last export stops the VM's NBD server and removes its socket.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lookupUser } from '../../../src/agent/qemu/proc.js';
import { XenApiError } from '../../../src/shared/errors.js';
import {
  BASE_ALLOCATION,
  connectNbd,
  dirtyBitmapContext,
  extents,
  readStream,
} from '../../../src/shared/nbd/index.js';
import { guest, spec } from '../helpers/guest.js';
import { startGuestAgent } from '../helpers/guest-agent.js';

const UUID = '0e0e0e0e-2222-4333-8444-555566667777';
const MiB = 1024 * 1024;

test('a running VM disk is exported read-only over NBD by its own QEMU', { timeout: 300_000 }, async (t) => {
  const who = lookupUser('nobody');
  if (!who || who.uid === 0) return t.skip('no unprivileged user nobody on this machine');
  const { kernel, initrd } = guest();
  const { dir, runRoot, client } = await startGuestAgent(t, 'berth-nbd-vm-', { runAs: 'nobody' });

  const disk = join(dir, 'disk.qcow2');
  const q = (args: string[]) => execFileSync(args[0], args.slice(1), { encoding: 'utf8' });
  q(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '32M']);
  q(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x42 0 1M', disk]);
  q(['qemu-img', 'bitmap', '--add', disk, 'cbt-1']);
  q(['qemu-io', '-f', 'qcow2', '-c', `write -P 0x99 ${8 * MiB} 128k`, disk]);
  // Frozen (as a snapshot's is): QEMU exports only bitmaps that cannot change under the reader.
  q(['qemu-img', 'bitmap', '--disable', disk, 'cbt-1']);
  q(['qemu-img', 'bitmap', '--add', disk, 'cbt-live']);

  // Paused: QEMU holds the disk (its write lock) and nothing writes to it meanwhile.
  await client.call('instance_start', [
    spec(UUID, {
      kernel,
      initrd,
      startPaused: true,
      disks: [{ device: 'xvda', path: disk, format: 'qcow2', readonly: false }],
    }),
  ]);
  const qemuPid = Number(readFileSync(join(runRoot, UUID, 'qemu.pid'), 'utf8'));
  assert.match(readFileSync(`/proc/${qemuPid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${who.uid}\\b`, 'm'));

  const x = await client.instance_nbd_open(UUID, 'xvda', { bitmap: 'cbt-1' });
  assert.equal(x.size, 32 * MiB);
  assert.equal(x.readOnly, true);
  assert.ok(existsSync(x.socket));
  const ctx = dirtyBitmapContext('cbt-1');
  const c = await connectNbd(
    { socket: x.socket },
    { exportName: x.exportName, metaContexts: [BASE_ALLOCATION, ctx] },
  );
  t.after(() => c.destroy());
  assert.equal(c.readOnly, true);
  const got: Buffer[] = [];
  for await (const d of readStream(c, { chunkSize: MiB })) got.push(d);
  const raw = join(dir, 'ref.raw');
  q(['qemu-img', 'convert', '-U', '-O', 'raw', disk, raw]);
  assert.ok(Buffer.concat(got).equals(readFileSync(raw)), 'NBD bytes differ from qemu-img convert');
  const dirty: [number, number][] = [];
  for await (const e of extents(c, ctx)) if (e.dirty) dirty.push([e.offset, e.length]);
  assert.deepEqual(dirty, [[8 * MiB, 128 * 1024]]);
  const data: number[] = [];
  for await (const e of extents(c)) if (!e.hole) data.push(e.offset);
  assert.ok(data.includes(0));

  // A second export of the same disk shares the VM's server; closing one keeps the other.
  const y = await client.instance_nbd_open(UUID, 'xvda', {});
  assert.equal(y.socket, x.socket);
  assert.notEqual(y.exportName, x.exportName);
  assert.equal((await client.blockdev_nbd_list()).length, 2);
  await c.disconnect();
  await client.blockdev_nbd_close(x.id);
  const c2 = await connectNbd({ socket: y.socket }, { exportName: y.exportName });
  assert.deepEqual([...(await c2.read(0, 2))], [0x42, 0x42]);
  await c2.disconnect();
  await client.blockdev_nbd_close(y.id);
  assert.equal(existsSync(x.socket), false, 'the last close removes the socket');
  assert.deepEqual(await client.blockdev_nbd_list(), []);

  // Bad input.
  const code = (k: string, p0?: string) => (e: unknown) => {
    assert.ok(e instanceof XenApiError, String(e));
    assert.equal(e.code, k);
    if (p0 !== undefined) assert.equal(e.params[0], p0);
    return true;
  };
  await assert.rejects(client.instance_nbd_open(UUID, 'xvdz', {}), code('INVALID_VALUE', 'device'));
  await assert.rejects(client.instance_nbd_open(UUID, '../x', {}), code('INVALID_VALUE', 'device'));
  await assert.rejects(
    client.instance_nbd_open(UUID, 'xvda', { bitmap: 'missing' }),
    code('INVALID_VALUE', 'bitmap'),
  );
  await assert.rejects(
    client.instance_nbd_open(UUID, 'xvda', { bitmap: 'cbt-live' }),
    code('INVALID_VALUE', 'bitmap'),
  );
  await assert.rejects(
    client.call('instance_nbd_open', [UUID, 'xvda', { path: '/' }]),
    code('INVALID_VALUE', 'opts.path'),
  );
  await assert.rejects(
    client.instance_nbd_open('0e0e0e0e-2222-4333-8444-000000000000', 'xvda', {}),
    code('VM_BAD_POWER_STATE'),
  );
  assert.equal(existsSync(x.socket), false, 'a failed open leaves no server behind');

  // The server again (a new one after the last close), then the VM stops under an open export.
  const z = await client.instance_nbd_open(UUID, 'xvda', {});
  await client.call('instance_shutdown', [UUID, false, 10_000]);
  await client.blockdev_nbd_close(z.id);
  assert.equal(existsSync(z.socket), false);
});
