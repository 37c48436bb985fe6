// IML's DevicePlugin._delta_result (reference §13): an update sends null for every key whose value
// is unchanged since it was last sent, except every FAILSAFE_UPDATE_CYCLES-th cycle (≈10 min at the
// 10 s poll period), when everything is sent again so that a manager that lost track recovers.

export const FAILSAFE_UPDATE_CYCLES = 60;

export class DeltaResult {
  #last = new Map<string, string>();
  #cycles = 0;

  /** A full listing (start_session): remembered as sent, the fail-safe count restarts. */
  reset<T extends Record<string, unknown>>(result: T): T {
    this.#cycles = 0;
    this.#last = new Map(Object.entries(result).map(([k, v]) => [k, JSON.stringify(v)]));
    return result;
  }

  /** An update: unchanged keys (of `fields`, default all) become null, unless a fail-safe cycle. */
  delta<T extends Record<string, unknown>>(result: T, fields?: readonly string[]): Record<string, unknown> {
    this.#cycles += 1;
    if (this.#cycles >= FAILSAFE_UPDATE_CYCLES) return this.reset(result);
    const out: Record<string, unknown> = { ...result };
    for (const key of fields ?? Object.keys(result)) {
      if (!(key in result)) {
        this.#last.delete(key);
        continue;
      }
      const text = JSON.stringify(result[key]);
      if (this.#last.get(key) === text) out[key] = null;
      else this.#last.set(key, text);
    }
    // A key no longer reported is forgotten: if it comes back, it is sent in full.
    for (const key of [...this.#last.keys()]) if (!(key in result)) this.#last.delete(key);
    return out;
  }
}
