// The Prometheus text exposition format 0.0.4, written once and pure: metric families with
// `# HELP` / `# TYPE` lines and one sample line per label set, names and label values made safe
// as the format requires (https://prometheus.io/docs/instrumenting/exposition_formats/).

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface Sample {
  /** Label name → value, in the order they are written. */
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface MetricFamily {
  /** A valid metric name (see metricName). */
  name: string;
  help: string;
  /** Data sources are all gauges; storage-resource Counter statistics are counters. */
  type: 'gauge' | 'counter';
  samples: Sample[];
}

/** `berth_<owner>_<name>` with every character outside [a-zA-Z0-9_] replaced by `_`. */
export function metricName(owner: string, dataSource: string): string {
  return `berth_${sanitise(owner)}_${sanitise(dataSource)}`;
}

function sanitise(s: string): string {
  return s.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** HELP text: backslash and line feed escaped. */
export function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(s: string): string {
  // Most values need nothing: skip the three replacements (10,000 storage series per scrape).
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value: Go's ParseFloat reads JavaScript's shortest round-trip form; ±Inf and NaN as named. */
export function formatValue(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return '+Inf';
  if (x === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(x);
}

function labelSet(labels: Readonly<Record<string, string>>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/**
 * The exposition text of `families`, in the order given. A family without samples is left out
 * (promtool accepts it, but it says nothing); a repeated label set within a family keeps its
 * first sample (duplicates make Prometheus reject the whole scrape).
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    const seen = new Set<string>();
    for (const s of f.samples) {
      const ls = labelSet(s.labels);
      if (seen.has(ls)) continue;
      seen.add(ls);
      out.push(`${f.name}${ls} ${formatValue(s.value)}`);
    }
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
