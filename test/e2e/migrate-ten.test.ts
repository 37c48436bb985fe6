// Issue 15, item 5 and the first done-criterion: a running guest that counts on its serial console
// and writes to a disk on a shared SR moves back and forth between two namespaced pool hosts ten
// times with VM.pool_migrate, and loses nothing. The console is recorded with arrival times, one
// tap per QEMU (test/helpers/guest-counter.ts): the counter never goes backwards, never skips a
// value (no console output lost at a switch-over) and never stalls longer than MAX_STALL_MS; the
// disk holds, read back on the final host and from the image file after shutdown, the block
// written before the first migration and the last value of a writer that ran throughout.
//
// MAX_STALL_MS: bench:migrate measured the raw QEMU-to-QEMU switch-over on this machine (TCG) at
// 520–690 ms of guest-visible pause for a QEMU downtime of 46–103 ms: after QEMU's stop-and-copy
// the destination's `cont` takes ~200 ms and the TCG guest needs ~375 ms (cold translation
// cache) before it prints again. Berth adds its manager → agent round trips before `cont`, and
// the machine's two cores are shared with other jobs: the bound is 3 s (BERTH_MIGRATE_MAX_STALL_MS
// overrides), about 4x the raw figure, far below what a lost or restarted guest would show.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runChecked } from '../../src/shared/exec.js';
import {
  ConsoleRecorder,
  counterLoop,
  counterStats,
  shell,
  switchGaps,
  waitShell,
} from '../helpers/guest-counter.js';
import {
  createGuestVm,
  migrateWatched,
  serialSocket,
  startMigrationPool,
} from '../helpers/migration-pool.js';
import { qemuCmdline } from '../helpers/pool-harness.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const MIGRATIONS = 10;
const MAX_STALL_MS = Number(process.env.BERTH_MIGRATE_MAX_STALL_MS ?? 3000);
/** The writer's sector (2 MiB into the disk); the block written first is the disk's first MiB. */
const WRITER_SECTOR = 4096;

test('ten live migrations of a counting, writing guest lose nothing', { timeout: 600_000 }, async (t) => {
  const rec = new ConsoleRecorder();
  t.after(() => rec.close());
  const p = await startMigrationPool(t);
  const scratch = tempDir(t, 'berth-migrate-ten-');
  const { master, hosts, refs } = p;

  const vdi = String(
    await master.call('VDI.create', vdiRecord(p.sharedSr, 16 * MiB, { name_label: 'ten' }) as never),
  );
  const { vm, uuid } = await createGuestVm(master, 'migrate-ten', 128);
  await master.call('VBD.create', vbdRecord(vm, vdi, { userdevice: '1', bootable: false }) as never);
  await master.call('VM.start_on', vm, refs[0], false, false);
  const tap = await rec.tap(serialSocket(hosts[0], uuid), 'start');
  await waitShell(rec, tap);

  // A random MiB at the start of the disk (its digest kept), then a writer that stores its
  // sequence number in one sector every ~100 ms (flushed each time) until /stop exists.
  const digest = await shell(
    rec,
    tap,
    'dd if=/dev/urandom of=/blk bs=64k count=16 2>/dev/null && dd if=/blk of=/dev/vda bs=64k conv=fsync 2>/dev/null && echo "BLK-$(md5sum < /blk | cut -c1-32)"',
    /BLK-([0-9a-f]{32})/,
  );
  await tap.type(
    `(j=0; while [ ! -e /stop ]; do j=$((j+1)); echo "W$j." | dd of=/dev/vda bs=512 seek=${WRITER_SECTOR} conv=notrunc,fsync 2>/dev/null; usleep 100000; done; echo "WRITER-DONE-$j.") &`,
  );
  await tap.type(counterLoop(10));
  await rec.waitCounting(50, 60_000);

  const took: number[] = [];
  for (let k = 1; k <= MIGRATIONS; k++) {
    const [src, dst] = k % 2 ? [0, 1] : [1, 0];
    const { ms } = await migrateWatched(rec, hosts[dst], uuid, `m${k}`, () =>
      master.call('VM.pool_migrate', vm, refs[dst], { live: 'true' } as never),
    );
    took.push(Math.round(ms));
    assert.equal(await master.call('VM.get_resident_on', vm), refs[dst], `migration ${k}: resident_on`);
    assert.equal(await master.call('VM.get_power_state', vm), 'Running', `migration ${k}: power state`);
    assert.equal(qemuCmdline(hosts[src], uuid), undefined, `migration ${k}: no QEMU left on the source`);
    assert.ok(qemuCmdline(hosts[dst], uuid), `migration ${k}: QEMU on the destination`);
    await rec.waitCounting(20, 30_000); // it runs there before it moves again
  }

  const lines = rec.lines();
  const stats = counterStats(lines);
  const gaps = switchGaps(lines).map((g) => Math.round(g.ms));
  t.diagnostic(`pool_migrate ms: ${took.join(' ')}; switch-over gaps ms: ${gaps.join(' ')}`);
  t.diagnostic(`counter ${stats.first}…${stats.last}, median step ${Math.round(stats.medianStepMs)} ms`);
  assert.equal(gaps.length, MIGRATIONS, 'the counter printed on every destination');
  assert.deepEqual(stats.backwards, [], 'the counter never went backwards');
  assert.deepEqual(stats.skipped, [], 'no counter line was lost');
  assert.ok(
    stats.maxGap.ms <= MAX_STALL_MS,
    `the counter stalled ${Math.round(stats.maxGap.ms)} ms (${stats.maxGap.from}→${stats.maxGap.to}), bound ${MAX_STALL_MS}`,
  );

  // The disk, read back by the guest on its final host with the page cache dropped.
  const last = rec.taps.at(-1);
  assert.ok(last);
  await last.type('touch /stop'); // the last tap is the running QEMU's
  const done = await rec.waitFor(/WRITER-DONE-(\d+)\./, 30_000);
  const seq = Number(done[1]);
  assert.ok(seq > 20, `the writer ran throughout (${seq} writes)`);
  const back = await shell(
    rec,
    last,
    `echo 3 > /proc/sys/vm/drop_caches; echo "READ-$(dd if=/dev/vda bs=64k count=16 2>/dev/null | md5sum | cut -c1-32)-$(dd if=/dev/vda bs=512 skip=${WRITER_SECTOR} count=1 2>/dev/null | head -c 12 | tr -d '\\n')"`,
    /READ-([0-9a-f]{32})-(W\d+\.)/,
  );
  assert.equal(back[1], digest[1], 'the first MiB reads back on the final host');
  assert.equal(back[2], `W${seq}.`, "the writer's last write reads back on the final host");

  // And from the image file on the shared SR once the VM is off.
  await master.call('VM.hard_shutdown', vm);
  const vdiUuid = String(await master.call('VDI.get_uuid', vdi));
  const pbd = (await master.call('SR.get_PBDs', p.sharedSr))[0];
  const image = join(String((await master.call('PBD.get_device_config', pbd)).location), `${vdiUuid}.qcow2`);
  const raw = join(scratch, 'head.raw');
  await runChecked('qemu-img', [
    'dd',
    '-f',
    'qcow2',
    '-O',
    'raw',
    'bs=512',
    `count=${WRITER_SECTOR + 1}`,
    `if=${image}`,
    `of=${raw}`,
  ]);
  const bytes = readFileSync(raw);
  assert.equal(
    createHash('md5').update(bytes.subarray(0, MiB)).digest('hex'),
    digest[1],
    'the first MiB in the image',
  );
  assert.equal(
    bytes.subarray(WRITER_SECTOR * 512, WRITER_SECTOR * 512 + `W${seq}.`.length).toString(),
    `W${seq}.`,
    "the writer's last write in the image",
  );
});
