// Nesting depth of parsed JSON, measured without recursion. V8's JSON.parse accepts any depth, but
// everything that walks a value afterwards (checks, decoders, renderers) recurses, so a request
// nested 100,000 deep would overflow the stack there: parsers refuse such input up front.

/** XenAPI values nest a few levels (a map of sets in a record); 64 leaves ample room. */
export const MAX_JSON_DEPTH = 64;

/** True when `v` has arrays/objects nested more than `max` levels deep. */
export function jsonTooDeep(v: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop() as [unknown, number];
    if (x === null || typeof x !== 'object') continue;
    if (d >= max) return true;
    for (const k in x) stack.push([(x as Record<string, unknown>)[k], d + 1]);
  }
  return false;
}
