// npx tsx bench/data-plane/live-snapshot.ts — how long a running guest's I/O stays held during a
// live VM.snapshot, with and without changed-block tracking on its disk.
//
// Berth: agent + manager as processes (test/helpers/stack.ts), the test guest under TCG with a
// 64 MiB data disk and a writer in the guest (4 KiB O_DIRECT writes every ~20 ms), BENCH_RUNS
// (default 5) VM.snapshot calls per phase; the pause is what the agent measured around QEMU's
// `transaction` and wrote to the snapshot's snapshot_info (`berth-io-pause-ms`,
// `berth-vcpu-pause-ms`). Phase 1 without CBT, phase 2 after VDI.enable_cbt (every snapshot
// then also carries the bitmaps of all earlier ones: one more kept generation each time).
// Peer: a bare QEMU (-machine none) holding a qcow2 of the same size, a snapshot transaction
// sent straight over its QMP socket and timed the same way: `blockdev-snapshot-sync` (QEMU
// creates and opens the overlay inside the transaction) for phase 1; for phase 2 the same steps
// as Berth's CBT path (overlay opened and given its bitmaps before, `blockdev-snapshot`, the
// kept generations merged after; only the transaction is timed, as in Berth).
// Exports run(): Row[] for the data-plane runner; prints the rows when run alone.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  findDiskNode,
  liveSnapshotBitmapsBefore,
  liveSnapshotCatchUp,
} from '../../src/agent/qemu/cbt-live.js';
import { QmpClient } from '../../src/agent/qemu/qmp.js';
import { CBT_BLOCK, cbtBitmapName } from '../../src/shared/cbt/changed-blocks.js';
import { runChecked } from '../../src/shared/exec.js';
import { ensureGuest } from '../../test/helpers/stack.js';
import { startGuestStack, testGuestVm, guestShell, waitGuestShell } from '../../test/helpers/guest-vm.js';
import { vbdRecord, vdiRecord } from '../../test/helpers/records.js';
import type { Row } from '../data-plane-row.js';

export type { Row };

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MiB = 1024 * 1024;
const DISK = 64 * MiB;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number) => Math.round(x * 100) / 100;

interface Pauses {
  plain: number[];
  cbt: number[];
  vcpu: number[];
}

/** A minimal test context for the stack helper: after-hooks run last-in first-out. */
function hooks(): { t: TestContext; run: () => Promise<void> } {
  const fns: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => fns.push(fn) } as unknown as TestContext;
  return {
    t,
    run: async () => {
      for (const fn of fns.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    },
  };
}

/** Berth: live VM.snapshot of a running guest that writes, pauses read back from snapshot_info. */
async function berth(): Promise<Pauses> {
  await ensureGuest();
  const h = hooks();
  try {
    const { stack, call } = await startGuestStack(h.t, 19400 + Math.floor(Math.random() * 100));
    const { vm, uuid, sr } = await testGuestVm(call, 'bench-livesnap');
    const vdi = await call('VDI.create', vdiRecord(sr, DISK, { name_label: 'bench data' }));
    await call('VBD.create', vbdRecord(vm, vdi, { userdevice: '1', bootable: false }));
    const guest = guestShell(stack, uuid);
    await call('VM.start', vm, false, false);
    await waitGuestShell(stack, uuid, 180_000, guest);
    await guest(
      '(while :; do dd if=/dev/zero of=/dev/vda bs=4096 count=1 seek=$((RANDOM % 16384)) oflag=direct conv=notrunc 2>/dev/null; usleep 20000; done) & echo WRITER-UP',
      /\nWRITER-UP/,
    );
    const out: Pauses = { plain: [], cbt: [], vcpu: [] };
    for (const phase of ['plain', 'cbt'] as const) {
      if (phase === 'cbt') await call('VDI.enable_cbt', vdi);
      for (let i = 0; i < RUNS; i++) {
        const snap = await call('VM.snapshot', vm, `bench-${phase}-${i}`, []);
        const info = await call('VM.get_snapshot_info', snap);
        out[phase].push(Number(info['berth-io-pause-ms']));
        out.vcpu.push(Number(info['berth-vcpu-pause-ms']));
      }
    }
    await call('VM.hard_shutdown', vm);
    return out;
  } finally {
    await h.run();
  }
}

/** Peer: the same transaction straight to a bare QEMU's QMP socket. */
async function peer(): Promise<Pauses> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-livesnap-'));
  let qemu: ChildProcess | undefined;
  try {
    const img = join(dir, 'disk.qcow2');
    await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', img, String(DISK)]);
    const sock = join(dir, 'qmp.sock');
    const drive = 'drive-vbd-xvda';
    qemu = spawn(
      'qemu-system-x86_64',
      [
        ...['-machine', 'none', '-nodefaults', '-display', 'none', '-S'],
        ...['-qmp', `unix:${sock},server=on,wait=off`],
        ...['-drive', `if=none,id=${drive},file=${img},format=qcow2,auto-read-only=off`],
      ],
      { stdio: 'ignore' },
    );
    let qmp: QmpClient | undefined;
    for (let i = 0; i < 100 && !qmp; i++)
      qmp = await QmpClient.connect(sock, 2000).catch(async () => {
        await new Promise((r) => setTimeout(r, 50));
        return undefined;
      });
    if (!qmp) throw new Error('bare QEMU: no QMP');
    const cmd = (c: string, a?: Record<string, unknown>) => qmp!.command(c, a);
    const names = { drive, node: '-' };
    const out: Pauses = { plain: [], cbt: [], vcpu: [] };
    let seq = 0;
    const keep: string[] = [];
    for (const phase of ['plain', 'cbt'] as const) {
      if (phase === 'cbt') {
        const gen = randomUUID();
        const node = findDiskNode((await cmd('query-block')) as never, names)!.node;
        await cmd('block-dirty-bitmap-add', {
          node,
          name: cbtBitmapName(gen),
          granularity: CBT_BLOCK,
          persistent: true,
        });
      }
      for (let i = 0; i < RUNS; i++) {
        const old = findDiskNode((await cmd('query-block')) as never, names)!.node;
        const node = `peer${seq++}`;
        const gen = randomUUID();
        // As Berth's CBT path: the overlay's bitmaps before, the history merged after (untimed).
        const file = join(dir, `${node}.qcow2`);
        if (phase === 'cbt') {
          await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(DISK)]);
          await cmd('blockdev-add', {
            'node-name': node,
            driver: 'qcow2',
            backing: null,
            file: { driver: 'file', filename: file },
          });
          for (const c of liveSnapshotBitmapsBefore(node, keep, gen)) await cmd(c.execute, c.arguments);
        }
        const action =
          phase === 'cbt'
            ? { type: 'blockdev-snapshot', data: { node: old, overlay: node } }
            : {
                type: 'blockdev-snapshot-sync',
                data: {
                  'node-name': old,
                  'snapshot-file': file,
                  'snapshot-node-name': node,
                  format: 'qcow2',
                },
              };
        const t0 = performance.now();
        await cmd('transaction', { actions: [action] });
        out[phase].push(performance.now() - t0);
        if (phase === 'cbt')
          for (const step of liveSnapshotCatchUp(old, node, keep))
            for (const c of [step.merge, step.freeze]) await cmd(c.execute, c.arguments);
        if (phase === 'cbt') keep.push(gen);
      }
    }
    await cmd('quit').catch(() => undefined);
    qmp.close();
    return out;
  } finally {
    qemu?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function rows(b: Pauses, p: Pauses): Row[] {
  const row = (name: string, berthMs: number, peerMs: number | null, target: string): Row => ({
    name,
    berth: round(berthMs),
    peer: peerMs === null ? null : round(peerMs),
    ratio: peerMs ? round(berthMs / peerMs) : null,
    target,
    unit: 'ms',
  });
  return [
    row(`live VM.snapshot: guest I/O held, median of ${RUNS}`, median(b.plain), median(p.plain), '< 50'),
    row(
      `live VM.snapshot: guest I/O held, max of ${RUNS}`,
      Math.max(...b.plain),
      Math.max(...p.plain),
      '< 50',
    ),
    row(
      `live VM.snapshot, CBT disk: guest I/O held, median of ${RUNS}`,
      median(b.cbt),
      median(p.cbt),
      '< 50',
    ),
    row(
      `live VM.snapshot, CBT disk: guest I/O held, max of ${RUNS}`,
      Math.max(...b.cbt),
      Math.max(...p.cbt),
      '< 50',
    ),
    row('live VM.snapshot: vCPUs stopped, max', Math.max(...b.vcpu), null, '0'),
  ];
}

export async function run(): Promise<Row[]> {
  const b = await berth();
  const p = await peer();
  process.stderr.write(
    `berth io ms: plain ${b.plain.map(round).join(' ')}; cbt ${b.cbt.map(round).join(' ')}\n` +
      `peer  io ms: plain ${p.plain.map(round).join(' ')}; cbt ${p.cbt.map(round).join(' ')}\n`,
  );
  return rows(b, p);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then(
    (r) => {
      console.table(r);
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
