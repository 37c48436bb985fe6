// npm run bench:migrate — issue 15's live-migration figures, each against its peer measured in the
// same run, one run each (the terms):
//   memory   the test guest with 512 MiB of its RAM filled (random data) and a counter on its
//            serial console every ~10 ms: a raw QEMU-to-QEMU migration driven through QMP between
//            two namespaces joined by a veth pair, over plain TCP and over TLS (bench/migrate/peer.ts),
//            against Berth's VM.pool_migrate between two namespaced pool hosts
//            (bench/migrate/berth-pool.ts): total time, QEMU's downtime, the guest's counter gap.
//   storage  VM.migrate_send of a VM with a 4 GiB disk (1 GiB written) between two local SRs, against
//            `qemu-img convert` of the same disk (bench/migrate/storage.ts).
// The peer rows print even when Berth's half fails (its cell then says so). Phases run one after
// another, so that they do not compete for the cores. `npm run bench:migrate -- peer` runs only
// the peers; `-- memory`, `-- storage` one half. Sizes: BENCH_MEM_MIB (768), BENCH_FILL_MIB (512),
// BENCH_DISK_GIB (4), BENCH_WRITTEN_MIB (1024), BENCH_DOWNTIME_MS (300, QEMU downtime-limit).
import { berthPoolMigration } from './migrate/berth-pool.js';
import { type MigrationFigures, peerMigration } from './migrate/peer.js';
import { mibPerSecond, type StorageFigures, storageMigration } from './migrate/storage.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const MEM = env('BENCH_MEM_MIB', 768);
const FILL = env('BENCH_FILL_MIB', 512);
const DISK = env('BENCH_DISK_GIB', 4) * 1024 ** 3;
const WRITTEN = env('BENCH_WRITTEN_MIB', 1024) * 1024 ** 2;
const DOWNTIME = env('BENCH_DOWNTIME_MS', 300);

const args = process.argv.slice(2);
const want = (phase: string) => args.length === 0 || args.includes(phase);
const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

/** One line of the table; `berth` is an error message when Berth's half failed. */
export interface MigrateRow {
  name: string;
  berth: number | string | null;
  peer: number | null;
  unit: string;
  /** berth/peer when both are numbers. */
  ratio: number | null;
  target: string;
}

const fmt = (n: number | string | null | undefined) =>
  n === null || n === undefined || (typeof n === 'number' && Number.isNaN(n))
    ? '—'
    : typeof n === 'string'
      ? `FAILED: ${n.replace(/\|/g, '/').replace(/\s+/g, ' ').slice(0, 160)}`
      : Math.abs(n) >= 100
        ? n.toFixed(0)
        : n.toFixed(2);

function row(
  name: string,
  berth: number | string | null | undefined,
  peer: number | null | undefined,
  unit: string,
  target: string,
): MigrateRow {
  const b = berth ?? null;
  const p = peer ?? null;
  const ratio = typeof b === 'number' && p ? b / p : null;
  return { name, berth: b, peer: p, unit, ratio, target };
}

/** The memory rows (pure): Berth against the TLS peer (like for like) and the plain-TCP one. */
export function memoryRows(
  berth: MigrationFigures | string | null,
  tls: MigrationFigures | null,
  plain: MigrationFigures | null,
): MigrateRow[] {
  const b = (f: (x: MigrationFigures) => number | undefined) =>
    typeof berth === 'string' ? berth : berth === null ? null : (f(berth) ?? null);
  const size = `${FILL} MiB dirtied, ${MEM} MiB guest`;
  return [
    row(
      `total time (wall), ${size}; peer: QEMU+TLS`,
      b((x) => x.wallMs),
      tls?.wallMs,
      'ms',
      'ratio ≤ 1.1',
    ),
    row(
      `total time (wall), ${size}; peer: QEMU plain TCP`,
      b((x) => x.wallMs),
      plain?.wallMs,
      'ms',
      '(the bare wire)',
    ),
    row(
      'QEMU total-time; peer: QEMU+TLS',
      b((x) => x.qemuTotalMs),
      tls?.qemuTotalMs,
      'ms',
      '—',
    ),
    row(
      'QEMU downtime; peer: QEMU+TLS',
      b((x) => x.qemuDowntimeMs),
      tls?.qemuDowntimeMs,
      'ms',
      '< 300',
    ),
    row(
      'QEMU downtime; peer: QEMU plain TCP',
      b((x) => x.qemuDowntimeMs),
      plain?.qemuDowntimeMs,
      'ms',
      '< 300',
    ),
    row(
      'guest counter gap at switch-over; peer: QEMU+TLS',
      b((x) => x.counterGapMs),
      tls?.counterGapMs,
      'ms',
      '< 300',
    ),
    row(
      'guest counter gap; peer: QEMU plain TCP',
      b((x) => x.counterGapMs),
      plain?.counterGapMs,
      'ms',
      '< 300',
    ),
    row(
      'guest counter median step (print interval)',
      b((x) => x.counterStepMs),
      tls?.counterStepMs,
      'ms',
      '—',
    ),
    row(
      'RAM sent; peer: QEMU+TLS',
      b((x) => x.ramTransferredMiB),
      tls?.ramTransferredMiB,
      'MiB',
      '—',
    ),
  ];
}

/** The storage rows (pure): time, and throughput with the ratio the target is about. */
export function storageRows(s: StorageFigures | string): MigrateRow[] {
  if (typeof s === 'string')
    return [row('VM.migrate_send vs qemu-img convert', s, null, 's', 'throughput ratio ≥ 0.8')];
  const name = `${Math.round(s.diskBytes / 1024 ** 3)} GiB disk, ${Math.round(s.writtenBytes / 1024 ** 2)} MiB written`;
  const berth = s.error ?? (s.migrateSendMs === undefined ? null : s.migrateSendMs / 1000);
  const tput = (ms: number | undefined) => (ms === undefined ? undefined : mibPerSecond(s.writtenBytes, ms));
  return [
    row(`VM.migrate_send, ${name}; peer: qemu-img convert`, berth, s.convertMs / 1000, 's', '—'),
    row(
      'written data moved per second (Berth/peer is the throughput ratio)',
      s.error ?? tput(s.migrateSendMs) ?? null,
      tput(s.convertMs),
      'MiB/s',
      'ratio ≥ 0.8',
    ),
    row(
      'of which the disk-mirroring phase (source agent status); peer: qemu-img convert',
      s.error ?? (s.mirrorMs === undefined ? null : s.mirrorMs / 1000),
      s.convertMs / 1000,
      's',
      '—',
    ),
  ];
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function main(): Promise<void> {
  console.log(`# bench:migrate ${new Date().toISOString()} node ${process.version}`);
  const rows: MigrateRow[] = [];
  let failed = false;
  if (want('memory') || want('peer')) {
    const peer = async (tls: boolean) =>
      peerMigration({ memoryMiB: MEM, fillMiB: FILL, downtimeMs: DOWNTIME, tls, log }).catch((e) => {
        failed = true;
        log(`peer (${tls ? 'TLS' : 'plain'}) failed: ${e instanceof Error ? e.stack : e}`);
        return null;
      });
    const plain = await peer(false);
    const tls = await peer(true);
    let berth: MigrationFigures | string | null = null;
    if (want('memory'))
      berth = await berthPoolMigration({ memoryMiB: MEM, fillMiB: FILL, downtimeMs: DOWNTIME, log }).catch(
        (e) => {
          failed = true;
          log(`Berth VM.pool_migrate failed: ${e instanceof Error ? e.stack : e}`);
          return message(e);
        },
      );
    rows.push(...memoryRows(berth, tls, plain));
  }
  if (want('storage')) {
    const s = await storageMigration({ diskBytes: DISK, writtenBytes: WRITTEN, log }).catch((e) => {
      log(`storage bench failed: ${e instanceof Error ? e.stack : e}`);
      return message(e);
    });
    if (typeof s === 'string' || s.error) failed = true;
    rows.push(...storageRows(s));
  }
  console.log('\n| measure | Berth | peer | unit | Berth/peer | target |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(
      `| ${r.name} | ${fmt(r.berth)} | ${fmt(r.peer)} | ${r.unit} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${r.target} |`,
    );
  process.exitCode = failed ? 1 : 0;
}

await main();
// The harness and agent clients may hold sockets open: the figures are out, end here.
process.exit(process.exitCode ?? 0);
