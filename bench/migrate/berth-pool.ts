// Berth's half of the memory benchmark: the same guest (same QEMU command line, same RAM, the same
// 512 MiB filled, the same counter) as a VM of a two-host pool (test/helpers/migration-pool.ts),
// moved by VM.pool_migrate. Measured as the peer: wall time of the call (destination QEMU start →
// guest running there, plus Berth's own bookkeeping), QEMU's total-time and downtime (the source
// agent's instance_migration_status, polled during the call), and the guest's counter gap.
import { migrationClient, type MigrationStatus } from '../../src/shared/host/migration.js';
import { AgentClient } from '../../src/shared/noded/client.js';
import { ConsoleRecorder, counterStats, switchGap } from '../../test/helpers/guest-counter.js';
import {
  type AfterHooks,
  createGuestVm,
  migrateWatched,
  serialSocket,
  startMigrationPool,
} from '../../test/helpers/migration-pool.js';
import { loadGuest } from './guest-load.js';
import type { MigrationFigures } from './peer.js';

const MiB = 1024 * 1024;

/** After-hooks for a bench, run in registration order as node:test's (errors ignored). */
export function benchHooks(): AfterHooks & { run: () => Promise<void> } {
  const fns: (() => unknown)[] = [];
  return {
    after: ((fn: () => unknown) => {
      fns.push(fn);
    }) as AfterHooks['after'],
    run: async () => {
      for (const fn of fns) await Promise.resolve(fn()).catch(() => undefined);
    },
  };
}

/**
 * Polls the source agent's migration status every 20 ms until stopped: keeps the last answer
 * that carries QEMU's figures (or the last of a migration at all), and when each phase was first
 * seen (performance.now(), ms).
 */
export function watchStatus(agentSocket: string, uuid: string) {
  const agent = new AgentClient(agentSocket);
  const m = migrationClient((p, a) => agent.call(p, a));
  let stop = false;
  let best: MigrationStatus | undefined;
  const phases = new Map<string, number>();
  const loop = (async () => {
    while (!stop) {
      const s = await m.instance_migration_status(uuid).catch(() => undefined);
      if (s && s.phase !== 'none') {
        if (!phases.has(s.phase)) phases.set(s.phase, performance.now());
        if (s.downtimeMs !== undefined || best?.downtimeMs === undefined) best = s;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    async end(): Promise<{ last?: MigrationStatus; phases: Map<string, number> }> {
      stop = true;
      await loop;
      agent.close();
      return { last: best, phases };
    },
  };
}

export async function berthPoolMigration(o: {
  memoryMiB: number;
  fillMiB: number;
  downtimeMs: number;
  log?: (s: string) => void;
}): Promise<MigrationFigures> {
  const log = o.log ?? (() => undefined);
  const hooks = benchHooks();
  const rec = new ConsoleRecorder();
  hooks.after(() => rec.close());
  try {
    const p = await startMigrationPool(hooks);
    const [a, b] = p.hosts;
    const { vm, uuid } = await createGuestVm(p.master, 'bench-migrate', o.memoryMiB);
    await p.master.call('VM.start_on', vm, p.refs[0], false, false);
    const tap = await rec.tap(serialSocket(a, uuid), 'src');
    await loadGuest(rec, tap, o.fillMiB, log);

    const status = watchStatus(a.agentSocket, uuid);
    const options = { live: 'true', berth_downtime_ms: String(o.downtimeMs) };
    const { ms } = await migrateWatched(rec, b, uuid, 'dst', () =>
      p.master.call('VM.pool_migrate', vm, p.refs[1], options as never),
    );
    const s = (await status.end()).last;
    if ((await p.master.call('VM.get_resident_on', vm)) !== p.refs[1])
      throw new Error('VM.pool_migrate returned but the VM is not resident on the destination');
    await rec.waitCounting(30, 60_000);
    const lines = rec.lines();
    const stats = counterStats(lines);
    const gap = switchGap(lines, 'src', 'dst');
    log(
      `berth: wall ${Math.round(ms)} ms, qemu total ${s?.totalTimeMs} ms downtime ${s?.downtimeMs} ms, ` +
        `counter gap ${gap ? Math.round(gap.ms) : '?'} ms (${gap?.from}→${gap?.to}), max ${Math.round(stats.maxGap.ms)} ms`,
    );
    await p.master.call('VM.hard_shutdown', vm);
    return {
      wallMs: ms,
      migrateMs: ms,
      qemuTotalMs: s?.totalTimeMs,
      qemuDowntimeMs: s?.downtimeMs,
      counterGapMs: gap?.ms,
      counterMaxGapMs: stats.maxGap.ms,
      counterStepMs: stats.medianStepMs,
      counterBackwards: stats.backwards.length,
      ramTransferredMiB: s ? s.ramTransferred / MiB : undefined,
    };
  } catch (e) {
    log(`berth console, last 2000 characters:\n${rec.text().slice(-2000)}`);
    throw e;
  } finally {
    await hooks.run();
  }
}
