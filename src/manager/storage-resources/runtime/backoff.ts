// The scan daemon's restart back-off (IML's plugin_runner, reference §12): 1 s after the first
// failure, doubling on each failure up to 256 s; a run that lasted longer than 256 s counts as
// healthy, so the next failure starts again at 1 s.
export const MIN_BACKOFF_S = 1;
export const MAX_BACKOFF_S = 256;

/** Seconds to wait before restarting, given the previous wait (0: none yet) and how long the run lasted. */
export function nextBackoffS(previousS: number, runLastedS: number): number {
  if (previousS <= 0 || runLastedS > MAX_BACKOFF_S) return MIN_BACKOFF_S;
  return Math.min(previousS * 2, MAX_BACKOFF_S);
}
