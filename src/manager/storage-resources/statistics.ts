// Statistics samples (reference §9): the latest value per statistic, and a bounded history per
// statistic for the exporters (RRD, /metrics) to read later.
import type { ReportedResource } from '../../shared/storage-resources/session.js';
import type { CallContext } from './context.js';

/** Samples kept per (record, statistic): two hours at IML's default 10 s sample period. */
export const STATISTIC_HISTORY = 720;

export function recordSamples(ctx: CallContext, id: number, stats: ReportedResource['statistics']): void {
  if (!stats) return;
  for (const [name, samples] of Object.entries(stats)) {
    if (samples.length === 0) continue;
    let latest = samples[0];
    for (const s of samples) {
      ctx.sql.run(
        'INSERT INTO _resource_statistic_sample (record_id, name, ts, value) VALUES (?, ?, ?, ?)',
        id,
        name,
        s[0],
        JSON.stringify(s[1]),
      );
      if (s[0] >= latest[0]) latest = s;
    }
    ctx.sql.run(
      `INSERT INTO _resource_statistic_latest (record_id, name, ts, value) VALUES (?, ?, ?, ?)
       ON CONFLICT (record_id, name) DO UPDATE SET ts = excluded.ts, value = excluded.value
       WHERE excluded.ts >= _resource_statistic_latest.ts`,
      id,
      name,
      latest[0],
      JSON.stringify(latest[1]),
    );
    ctx.sql.run(
      `DELETE FROM _resource_statistic_sample WHERE record_id = ? AND name = ? AND ts < (
         SELECT ts FROM _resource_statistic_sample WHERE record_id = ? AND name = ?
         ORDER BY ts DESC LIMIT 1 OFFSET ?)`,
      id,
      name,
      id,
      name,
      STATISTIC_HISTORY - 1,
    );
  }
}
