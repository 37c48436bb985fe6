// The source side of a storage migration while it runs (instance_migrate with target.nbd): the
// disk mirrors started by startMirrors, then in the background, as libvirt orders it:
//   mirroring → every job ready → memory migration (the caller's `startMemory`) → QEMU completed
//   it (the source is paused) → `block-job-cancel` of the ready jobs flushes the last writes and
//   leaves each target a consistent copy → the NBD client nodes go → done.
// Until then instance_migration_status does not say 'completed' (mirroredStatus): the manager
// finishes the destination (its `cont`) only after the targets are complete.
import type { MigrationStatus } from '../../shared/host/migration.js';
import { sleep } from '../qemu/proc.js';
import {
  abandonMirrors,
  cancelMirrors,
  finishMirrors,
  type MirrorQmp,
  mirrorProgress,
  waitMirrorsReady,
} from './mirror.js';

export type MirrorStage = 'mirroring' | 'memory' | 'finishing' | 'done' | 'failed';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Polls `query-migrate` until the memory migration ended; throws unless it completed. */
async function memoryCompleted(qmp: MirrorQmp): Promise<void> {
  for (;;) {
    const q = await qmp.command<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (q.status === 'completed') return;
    if (q.status === 'failed' || q.status === 'cancelled')
      throw new Error(`the memory migration ${q.status}${q['error-desc'] ? `: ${q['error-desc']}` : ''}`);
    await sleep(20);
  }
}

export class OutgoingMirrors {
  stage: MirrorStage = 'mirroring';
  error?: string;
  private aborted = false;
  private last = { transferred: 0, total: 0 };

  constructor(
    private readonly qmp: MirrorQmp,
    readonly devices: readonly string[],
  ) {}

  /** The background part (never rejects: a failure is `stage` 'failed' with `error`). */
  async run(startMemory: () => Promise<void>): Promise<void> {
    try {
      await waitMirrorsReady(this.qmp, this.devices, { pollMs: 50 });
      if (this.aborted) throw new Error('the migration was cancelled');
      this.stage = 'memory';
      await startMemory();
      await memoryCompleted(this.qmp);
      this.stage = 'finishing';
      const outcome = await cancelMirrors(this.qmp);
      const bad = outcome.find((o) => !o.consistent);
      if (bad) throw new Error(`the copy of ${bad.device} is incomplete${bad.error ? `: ${bad.error}` : ''}`);
      await finishMirrors(this.qmp, this.devices);
      this.stage = 'done';
    } catch (e) {
      this.error = this.aborted ? 'the migration was cancelled' : message(e);
      this.stage = 'failed';
      await abandonMirrors(this.qmp).catch(() => undefined);
    }
  }

  /** Stops the mirrors (the targets are abandoned); the memory stream is the caller's to cancel. */
  async abort(): Promise<void> {
    this.aborted = true;
    await abandonMirrors(this.qmp);
  }

  /** Disk bytes copied so far and in all (the last known figures once the jobs are gone). */
  async disk(): Promise<{ transferred: number; total: number }> {
    if (this.stage === 'mirroring' || this.stage === 'memory') {
      const p = await mirrorProgress(this.qmp).catch(() => undefined);
      if (p?.jobs.length) this.last = { transferred: p.transferred, total: p.total };
    } else if (this.stage === 'done') this.last = { transferred: this.last.total, total: this.last.total };
    return this.last;
  }
}

/**
 * The migration status with the mirrors' part (pure): 'mirroring' until the memory moves, never
 * 'completed' before the mirrors are finished (QEMU's completed memory migration shows as
 * 'device', the final stop-and-copy, meanwhile), 'failed' with the mirrors' error.
 */
export function mirroredStatus(s: MigrationStatus, stage: MirrorStage, error?: string): MigrationStatus {
  if (stage === 'failed') {
    const { downtimeMs: _d, totalTimeMs: _t, ...rest } = s;
    return { ...rest, phase: 'failed', error: s.error ?? error ?? 'storage migration failed' };
  }
  if (stage === 'mirroring' && (s.phase === 'none' || s.phase === 'setup'))
    return { ...s, phase: 'mirroring' };
  if (stage === 'memory' && s.phase === 'none') return { ...s, phase: 'setup' }; // being started
  if (s.phase === 'completed' && stage !== 'done') {
    const { downtimeMs: _d, totalTimeMs: _t, ...rest } = s;
    return { ...rest, phase: 'device', progress: Math.min(s.progress, 0.99) };
  }
  return s;
}

/** The storage migrations running out of each agent (keyed by its InstanceManager), by VM uuid. */
const sessions = new WeakMap<object, Map<string, OutgoingMirrors>>();

export function outgoingMirrors(agent: object): Map<string, OutgoingMirrors> {
  let m = sessions.get(agent);
  if (!m) {
    m = new Map();
    sessions.set(agent, m);
  }
  return m;
}
