// A `file` SR with shared=true: one directory every host sees. Two hosts (two storage contexts
// with their own state, two agent daemons on their own sockets) attach it at once; the marker
// makes them agree it is the same SR; a VDI made through one is seen and used through the other;
// a VM disk on it is opened by either host's agent (and QEMU's image lock keeps the two apart).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Agent, startAgent } from '../../../src/agent/agent.js';
import * as proc from '../../../src/agent/storage/procedures.js';
import type { DriverContext, SrConfig } from '../../../src/agent/storage/types.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { run } from '../../../src/shared/exec.js';
import { AgentClient } from '../../../src/shared/noded/client.js';
import { tempDir } from '../../helpers/tmp.js';
import { killQemusUnder, spec } from '../helpers/guest.js';
import { hasPattern, writePattern } from './helpers.js';

const MiB = 1024 * 1024;

function hosts(root: string) {
  const ctx = (h: string): DriverContext => ({
    allowedRoots: [join(root, 'shared')],
    stateDir: join(root, h, 'state'),
  });
  return { a: ctx('host-a'), b: ctx('host-b') };
}

test('shared file SR: two hosts attach it, see the same VDIs, agree on its identity', async (t) => {
  const root = tempDir(t, 'berth-shared-');
  const { a, b } = hosts(root);
  const sr: SrConfig = {
    uuid: randomUUID(),
    type: 'file',
    deviceConfig: { location: join(root, 'shared', 'sr') },
  };
  await proc.sr_create(a, sr);
  await proc.sr_attach(a, sr);
  // The second host attaches while the first has it: no exclusive lock, no repairs of live work.
  const inFlight = join(sr.deviceConfig.location, `.tmp-${randomUUID()}.qcow2`);
  writeFileSync(inFlight, '');
  assert.deepEqual(await proc.sr_attach(b, { ...sr, inUseElsewhere: true }), { fixed: [] });
  assert.ok(existsSync(inFlight), "host A's in-flight file survives host B's attach");

  const vdi = randomUUID();
  const made = await proc.blockdev_create(a, sr, vdi, 64 * MiB);
  const seen = await proc.sr_scan(b, sr);
  assert.deepEqual(
    seen.volumes.map((v) => [v.location, v.path, v.virtualSize]),
    [[vdi, made.path, 64 * MiB]],
  );
  await writePattern(made.path, 'qcow2', 0x42, 0, MiB);
  const onB = await proc.blockdev_find(b, sr, vdi);
  assert.ok(onB && (await hasPattern(onB.path, 'qcow2', 0x42, 0, MiB)), 'data written via A read via B');
  const snap = await proc.blockdev_snapshot(b, sr, vdi, randomUUID());
  assert.ok(await proc.blockdev_find(a, sr, snap.location), "B's snapshot visible to A");

  // Another SR's identity on the same directory is refused by every host.
  const other: SrConfig = { ...sr, uuid: randomUUID() };
  await assert.rejects(
    proc.sr_attach(b, other),
    (e: unknown) =>
      e instanceof XenApiError && e.code === 'SR_BACKEND_FAILURE' && /holds SR/.test(e.params[2]),
  );
  // With no other host attached, attach repairs as for a local SR.
  const fixed = await proc.sr_attach(a, sr);
  assert.ok(fixed.fixed.some((f) => f.includes('partial image')));
  assert.equal(existsSync(inFlight), false);

  // A directory without a marker (an SR introduced by hand) is claimed by the first attach.
  const bare: SrConfig = {
    uuid: randomUUID(),
    type: 'file',
    deviceConfig: { location: join(root, 'shared', 'bare') },
  };
  mkdirSync(bare.deviceConfig.location);
  await proc.sr_attach(b, { ...bare, inUseElsewhere: true });
  assert.deepEqual(await proc.sr_probe(a, 'file', bare.deviceConfig), [
    { uuid: bare.uuid, where: bare.deviceConfig.location },
  ]);
});

test('shared file SR: a VM disk on it is opened by either host agent', async (t) => {
  const root = tempDir(t, 'berth-shared-');
  const { a } = hosts(root);
  const sr: SrConfig = {
    uuid: randomUUID(),
    type: 'file',
    deviceConfig: { location: join(root, 'shared', 'sr') },
  };
  await proc.sr_create(a, sr);
  const disk = await proc.blockdev_create(a, sr, randomUUID(), 64 * MiB);

  const agents: { agent: Agent; client: AgentClient; runRoot: string }[] = [];
  t.after(async () => {
    for (const h of agents) {
      h.client.close();
      killQemusUnder(h.runRoot);
      await h.agent.close();
    }
  });
  for (const h of ['host-a', 'host-b']) {
    const dir = join(root, h);
    const runRoot = join(dir, 'run');
    const socketPath = join(dir, 'sock', 'agent.sock');
    mkdirSync(join(dir, 'sock'), { recursive: true, mode: 0o700 });
    const agent = await startAgent({
      socketPath,
      runRoot,
      logRoot: join(dir, 'log'),
      stateRoots: [join(dir, 'state')],
      accel: 'tcg',
    });
    agents.push({ agent, client: new AgentClient(socketPath), runRoot });
  }
  const vmSpec = spec(randomUUID(), {
    memoryBytes: 64 * MiB,
    memoryMaxBytes: 64 * MiB,
    disks: [{ path: disk.path, format: 'qcow2', readonly: false, device: '0', bootable: true }],
  });
  /** QEMU holds the image's write lock: a second writer cannot open it. */
  const locked = async () => (await run('qemu-img', ['info', disk.path])).stderr.includes('lock');

  const [ha, hb] = agents;
  await ha.client.start(vmSpec);
  assert.ok(await locked(), "host A's QEMU has the disk open");
  await assert.rejects(
    hb.client.start({ ...vmSpec, uuid: randomUUID() }),
    (e: Error) => /lock/i.test(e.message),
    'a second host cannot open it meanwhile',
  );
  await ha.client.shutdown(vmSpec.uuid, false, 10_000);
  assert.equal(await locked(), false);

  await hb.client.start(vmSpec);
  assert.ok(await locked(), "host B's QEMU has the disk open");
  await hb.client.shutdown(vmSpec.uuid, false, 10_000);
  assert.equal(await locked(), false);
});
