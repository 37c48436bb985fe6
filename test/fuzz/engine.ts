// A small corpus-driven mutation fuzzer (see docs/fuzzing.md for why not a library). Each case
// takes one corpus entry, applies a few seeded mutations (byte-level, dictionary tokens, splices
// with other entries, deep nesting; list-level for argv inputs) and runs the target. A case fails
// when the target throws anything but its documented error type, breaks a round-trip property,
// or runs past the time limit. Failures are minimised (delta debugging) and replayable: case i of
// seed s is always the same input.
import { performance } from 'node:perf_hooks';

export type Input = Buffer | string[];

export interface Target {
  name: string;
  /** `bytes`: a request body or stream; `argv`: a list of arguments. */
  kind: 'bytes' | 'argv';
  corpus: Input[];
  /** Structure tokens for insertion (tags, brackets, keywords, hostile values). */
  dictionary: string[];
  /** Dictionary tokens are bytes (latin1), not text (UTF-8). */
  binary?: boolean;
  /** Splits an input into structural units (e.g. protocol frames) for unit-level mutations. */
  units?: (b: Buffer) => Units | undefined;
  /**
   * Parses the input and checks the round-trip properties. Returns true when the input was
   * accepted. Throws the documented error type for a rejection, PropertyViolation for a broken
   * property; anything else is a crash.
   */
  run(input: Input): boolean;
  /** The parser's documented error type(s). */
  expected(e: unknown): boolean;
}

/** An input cut into a head, whole structural units and an unparsed tail. */
export interface Units {
  head: Buffer;
  units: Buffer[];
  tail: Buffer;
}

type MutationSource = Pick<Target, 'dictionary' | 'corpus' | 'binary' | 'units'>;

/** A broken round-trip (or other) property: always a failure. */
export class PropertyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PropertyViolation';
  }
}

export interface Failure {
  target: string;
  seed: number;
  index: number;
  kind: 'crash' | 'slow';
  error: string;
  input: Input;
  minimised: Input;
}

export interface RunStats {
  target: string;
  cases: number;
  accepted: number;
  rejected: number;
  ms: number;
  slowestMs: number;
  failures: Failure[];
}

export interface RunOptions {
  seed: number;
  cases: number;
  /**
   * A case running longer than this, and again on two re-runs, is a failure (default 1 s: the
   * slowest legitimate cases, 150 KB of frames or nesting, take 35 ms warm but several hundred cold
   * on this loaded machine; real hangs are the fuzz script's watchdog's).
   */
  caseLimitMs?: number;
  /** Stop after this many distinct failures. */
  maxFailures?: number;
  /** Called before each case with its index (the fuzz script's hang watchdog reads it). */
  onCase?: (index: number) => void;
}

/** mulberry32: tiny, fast and good enough to drive mutations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MAX_INPUT = 256 * 1024;

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const int = (rnd: () => number, n: number) => Math.floor(rnd() * n);

/** Offsets just after a `>` not followed by `<`: a leaf's text in XML (cheap structure awareness). */
function leafOffset(b: Buffer, rnd: () => number): number {
  let gt = b.indexOf(0x3e, int(rnd, b.length + 1));
  while (gt >= 0 && b[gt + 1] === 0x3c) gt = b.indexOf(0x3e, gt + 1);
  return gt < 0 ? int(rnd, b.length + 1) : gt + 1;
}

const LEAF_VALUES = [
  '',
  'x',
  '-1',
  '007',
  '1e5',
  '-0',
  'nan',
  'inf',
  'true',
  'Running',
  '20240101T00:00:00Z',
  '2024-01-01T23:59:60.5-02:30',
  '2024-13-01',
  'AAEC/+==',
  '9223372036854775808',
  '-9223372036854775809',
  '4294967296',
  ' 5 ',
  '\u00e9',
  '\u{1F600}',
  '&amp;&lt;',
  'OpaqueRef:NULL',
];

export function mutateBytes(seed: Buffer, rnd: () => number, t: MutationSource): Buffer {
  let b: Buffer = Buffer.from(seed);
  // Mostly one or two mutations, so that many mutants still parse and reach the deeper code.
  const n = 1 + Math.floor(rnd() * rnd() * 5);
  for (let k = 0; k < n; k++) {
    const at = int(rnd, b.length + 1);
    const ins = (x: Buffer | string, where = at) =>
      Buffer.concat([
        b.subarray(0, where),
        typeof x === 'string' ? Buffer.from(x, t.binary ? 'latin1' : 'utf8') : x,
        b.subarray(where),
      ]);
    switch (int(rnd, t.units ? 14 : 11)) {
      case 0: // flip a byte
        if (b.length) b[Math.min(at, b.length - 1)] ^= 1 << int(rnd, 8);
        break;
      case 1: // set a byte to an interesting value
        if (b.length)
          b[Math.min(at, b.length - 1)] = pick(rnd, [0, 0x7f, 0x80, 0xc0, 0xff, 0x0a, 0x3c, 0x22]);
        break;
      case 2:
      case 3: // insert a dictionary token
        b = ins(pick(rnd, t.dictionary));
        break;
      case 4: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(rnd, 24))]);
        break;
      case 5: // duplicate a range
        b = ins(b.subarray(at, at + 1 + int(rnd, 64)));
        break;
      case 6: // truncate
        b = b.subarray(0, at);
        break;
      case 7: // random bytes
        b = ins(Buffer.from(Array.from({ length: 1 + int(rnd, 6) }, () => int(rnd, 256))));
        break;
      case 8: // new text in a leaf
        b = ins(pick(rnd, LEAF_VALUES), leafOffset(b, rnd));
        break;
      case 9: {
        // splice: our head with another entry's tail
        const other = pick(rnd, t.corpus);
        if (Buffer.isBuffer(other))
          b = Buffer.concat([b.subarray(0, at), other.subarray(int(rnd, other.length + 1))]);
        break;
      }
      case 10: {
        // deep or wide repetition of a token (nesting bombs, long lists)
        const tok = pick(rnd, t.dictionary);
        const times = pick(rnd, [2, 16, 100, 1000, 5000]);
        if (tok.length * times < MAX_INPUT) b = ins(tok.repeat(times));
        break;
      }
      default: {
        // whole units (frames): drop, duplicate, swap, or take one from another entry
        const u = t.units?.(b);
        if (!u) break;
        const xs = u.units;
        const i = int(rnd, xs.length + 1);
        const op = int(rnd, 4);
        if (op === 0 && xs.length) xs.splice(Math.min(i, xs.length - 1), 1);
        else if (op === 1 && xs.length) xs.splice(i, 0, xs[Math.min(i, xs.length - 1)]);
        else if (op === 2 && xs.length > 1) {
          const j = int(rnd, xs.length);
          const k = Math.min(i, xs.length - 1);
          [xs[j], xs[k]] = [xs[k], xs[j]];
        } else if (rnd() < 0.5) {
          const other = pick(rnd, t.corpus);
          const ou = Buffer.isBuffer(other) ? t.units?.(other) : undefined;
          if (ou?.units.length) xs.splice(i, 0, pick(rnd, ou.units));
        } else {
          // a dictionary token at a unit boundary (whole frames in the dictionary land intact)
          const tok = Buffer.from(pick(rnd, t.dictionary), t.binary ? 'latin1' : 'utf8');
          xs.splice(i, 0, ...Array.from({ length: 1 + int(rnd, 2) }, () => tok));
        }
        b = Buffer.concat([u.head, ...xs, u.tail]);
      }
    }
    if (b.length > MAX_INPUT) b = b.subarray(0, MAX_INPUT);
  }
  return b;
}

export function mutateArgv(
  seed: string[],
  rnd: () => number,
  t: Pick<Target, 'dictionary' | 'corpus'>,
): string[] {
  const a = [...seed];
  const n = 1 + Math.floor(rnd() * rnd() * 4);
  for (let k = 0; k < n; k++) {
    const i = int(rnd, a.length + 1);
    switch (int(rnd, 8)) {
      case 0: // insert a token as its own argument
        a.splice(i, 0, pick(rnd, t.dictionary));
        break;
      case 1: // drop an argument
        a.splice(i, 1);
        break;
      case 2: // duplicate one
        if (a.length) a.splice(i, 0, a[Math.min(i, a.length - 1)]);
        break;
      case 3: // swap two
        if (a.length > 1) {
          const j = int(rnd, a.length);
          const x = Math.min(i, a.length - 1);
          [a[x], a[j]] = [a[j], a[x]];
        }
        break;
      case 4: // append a token or leaf value to an argument
        if (a.length) a[Math.min(i, a.length - 1)] += pick(rnd, rnd() < 0.5 ? t.dictionary : LEAF_VALUES);
        break;
      case 5: {
        // mutate the bytes of one argument (as UTF-8, invalid sequences become U+FFFD)
        if (!a.length) break;
        const x = Math.min(i, a.length - 1);
        a[x] = mutateBytes(Buffer.from(a[x]), rnd, { dictionary: t.dictionary, corpus: [] }).toString('utf8');
        break;
      }
      case 6: {
        // splice with another entry
        const other = pick(rnd, t.corpus);
        if (Array.isArray(other)) a.splice(i, a.length, ...other.slice(int(rnd, other.length + 1)));
        break;
      }
      default: // empty argument
        a.splice(i, 0, '');
    }
  }
  return a;
}

/** The input of case `index` (deterministic: a hang can be replayed from its index alone). */
export function caseInput(t: Target, seed: number, index: number): Input {
  const rnd = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const base = t.corpus[index % t.corpus.length];
  // A few unmutated corpus entries keep the accept path (and the round trips) exercised.
  if (index < t.corpus.length) return base;
  return Array.isArray(base) ? mutateArgv(base, rnd, t) : mutateBytes(base as Buffer, rnd, t);
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message.split('\n')[0].slice(0, 200)}`;
  return `thrown ${typeof e}: ${String(e).slice(0, 200)}`;
}

/** The failure signature of an input, or undefined when it passes. */
export function failureOf(t: Target, input: Input): string | undefined {
  try {
    t.run(input);
    return undefined;
  } catch (e) {
    if (t.expected(e) && !(e instanceof PropertyViolation)) return undefined;
    return describe(e);
  }
}

/** Same failure class: the error name and the message up to the first quote or digit. */
const signature = (s: string) => s.replace(/["'`\d].*$/s, '');

/** Delta-debugging minimisation: the smallest input (by removal) that fails the same way. */
export function minimise(t: Target, input: Input, failure: string, budget = 20_000): Input {
  const sig = signature(failure);
  const fails = (x: Input) => {
    budget--;
    const f = failureOf(t, x);
    return f !== undefined && signature(f) === sig;
  };
  const shrinkList = <T>(xs: T[], rebuild: (ys: T[]) => Input): T[] => {
    let cur = xs;
    for (let chunk = Math.max(1, cur.length >> 1); chunk >= 1 && budget > 0; chunk >>= 1) {
      for (let i = 0; i < cur.length && budget > 0; ) {
        const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
        if (fails(rebuild(cand))) cur = cand;
        else i += chunk;
      }
    }
    return cur;
  };
  if (Array.isArray(input)) {
    let args = shrinkList(input, (x) => x);
    args = args.map((_, k) => {
      const chars = shrinkList([...args[k]], (cs) => args.map((a, j) => (j === k ? cs.join('') : a)));
      const out = chars.join('');
      args = args.map((a, j) => (j === k ? out : a));
      return out;
    });
    return args;
  }
  return Buffer.from(shrinkList([...input], (bs) => Buffer.from(bs)));
}

/** Runs `cases` mutated cases of one target. */
export function runTarget(t: Target, o: RunOptions): RunStats {
  const limit = o.caseLimitMs ?? 1000;
  const stats: RunStats = {
    target: t.name,
    cases: 0,
    accepted: 0,
    rejected: 0,
    ms: 0,
    slowestMs: 0,
    failures: [],
  };
  const seen = new Set<string>();
  const t0 = performance.now();
  for (let i = 0; i < o.cases; i++) {
    o.onCase?.(i);
    const input = caseInput(t, o.seed, i);
    const c0 = performance.now();
    let error: string | undefined;
    try {
      if (t.run(input)) stats.accepted++;
      else stats.rejected++;
    } catch (e) {
      if (t.expected(e) && !(e instanceof PropertyViolation)) stats.rejected++;
      else error = describe(e);
    }
    const dt = performance.now() - c0;
    stats.cases++;
    if (dt > stats.slowestMs) stats.slowestMs = dt;
    let kind: Failure['kind'] = 'crash';
    if (!error && dt > limit) {
      // Confirm on re-runs: a garbage-collection pause or a cold JIT is not a slow parser.
      let best = Number.POSITIVE_INFINITY;
      for (let r = 0; r < 2; r++) {
        const r0 = performance.now();
        failureOf(t, input);
        best = Math.min(best, performance.now() - r0);
      }
      if (best > limit) {
        kind = 'slow';
        error = `slow: ${dt.toFixed(0)} ms, re-runs ${best.toFixed(0)} ms (limit ${limit} ms)`;
      }
    }
    if (!error) continue;
    const sig = `${kind}:${signature(error)}`;
    if (seen.has(sig)) continue;
    seen.add(sig);
    stats.failures.push({
      target: t.name,
      seed: o.seed,
      index: i,
      kind,
      error,
      input,
      minimised: kind === 'crash' ? minimise(t, input, error) : input,
    });
    if (stats.failures.length >= (o.maxFailures ?? 20)) break;
  }
  stats.ms = performance.now() - t0;
  return stats;
}

/** An input as printable text for reports (JSON string of latin1 bytes, or the argv list). */
export function showInput(x: Input): string {
  const s = Array.isArray(x) ? JSON.stringify(x) : JSON.stringify(x.toString('latin1'));
  return s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s;
}
