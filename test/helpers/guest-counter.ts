// The guest's serial counter across a live migration, shared by bench:migrate and the migration
// e2e tests. The guest runs COUNTER_LOOP on its serial console (a line `@C<n>.` every ~10 ms);
// this side holds one connection to each QEMU's serial socket (the source's, then the
// destination's, connected before the switch-over: a socket chardev with wait=off drops what
// nobody reads) and stamps every chunk with its arrival time on this process's monotonic clock.
//
// Across the switch-over the source stops printing before the destination starts (the guest is
// paused for the stop-and-copy), so all chunks of all taps in arrival order are the console's
// output in order — a line the source began and the destination finished included. A counter
// line's time is the arrival of the chunk holding its last character; the largest step between
// consecutive lines is the pause the guest saw (plus one print interval).
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

/** Prints `@C<n>.` every `intervalMs` on the console, in the background (busybox sh). */
export function counterLoop(intervalMs = 10): string {
  return `(i=0; while :; do i=$((i+1)); echo "@C$i."; usleep ${Math.round(intervalMs * 1000)}; done) &`;
}

/** One chunk of console output: which tap it came from and when (performance.now(), ms). */
export interface Chunk {
  side: string;
  at: number;
  text: string;
}

export interface CounterLine {
  n: number;
  at: number;
  side: string;
}

const COUNTER_RE = /@C(\d+)\./g;

/** Counter lines of a chunk sequence (pure): merged in the given order, split lines joined. */
export function counterLines(chunks: readonly Chunk[]): CounterLine[] {
  const text = chunks.map((c) => c.text).join('');
  const ends: number[] = [];
  let off = 0;
  for (const c of chunks) ends.push((off += c.text.length));
  const out: CounterLine[] = [];
  let k = 0;
  for (const m of text.matchAll(COUNTER_RE)) {
    const last = (m.index ?? 0) + m[0].length - 1;
    while (ends[k] <= last) k++;
    out.push({ n: Number(m[1]), at: chunks[k].at, side: chunks[k].side });
  }
  return out;
}

export interface CounterStats {
  lines: number;
  first?: number;
  last?: number;
  /** Places where the counter went backwards or repeated (n not greater than the one before). */
  backwards: { from: number; to: number }[];
  /** Values skipped (a line lost: n jumps by more than one). */
  skipped: { from: number; to: number }[];
  /** The longest time between two consecutive counter lines, and where. */
  maxGap: { ms: number; from: number; to: number; fromSide: string; toSide: string };
  /** The median time between consecutive lines (the print interval as the guest achieved it). */
  medianStepMs: number;
}

/** Monotonicity and gaps of a counter (pure). */
export function counterStats(lines: readonly CounterLine[]): CounterStats {
  const backwards: { from: number; to: number }[] = [];
  const skipped: { from: number; to: number }[] = [];
  const steps: number[] = [];
  let maxGap = { ms: 0, from: 0, to: 0, fromSide: '', toSide: '' };
  for (let i = 1; i < lines.length; i++) {
    const [a, b] = [lines[i - 1], lines[i]];
    if (b.n <= a.n) backwards.push({ from: a.n, to: b.n });
    else if (b.n > a.n + 1) skipped.push({ from: a.n, to: b.n });
    const ms = b.at - a.at;
    steps.push(ms);
    if (ms > maxGap.ms) maxGap = { ms, from: a.n, to: b.n, fromSide: a.side, toSide: b.side };
  }
  steps.sort((x, y) => x - y);
  return {
    lines: lines.length,
    first: lines[0]?.n,
    last: lines.at(-1)?.n,
    backwards,
    skipped,
    maxGap,
    medianStepMs: steps.length ? steps[Math.floor(steps.length / 2)] : 0,
  };
}

/**
 * The gap across the switch-over (pure): between the last line the source printed and the first
 * the destination printed. Undefined when either side printed none.
 */
export function switchGap(
  lines: readonly CounterLine[],
  src: string,
  dst: string,
): { ms: number; from: number; to: number } | undefined {
  let last: CounterLine | undefined;
  for (const l of lines) {
    if (l.side === src) last = l;
    else if (l.side === dst && last) return { ms: l.at - last.at, from: last.n, to: l.n };
  }
  return undefined;
}

/**
 * Every switch-over in a recording (pure): where consecutive counter lines come from different
 * taps, the time between them.
 */
export function switchGaps(lines: readonly CounterLine[]): { ms: number; from: string; to: string }[] {
  const out: { ms: number; from: string; to: string }[] = [];
  for (let i = 1; i < lines.length; i++)
    if (lines[i].side !== lines[i - 1].side)
      out.push({ ms: lines[i].at - lines[i - 1].at, from: lines[i - 1].side, to: lines[i].side });
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every tap's chunks in one arrival-ordered log. */
export class ConsoleRecorder {
  readonly chunks: Chunk[] = [];
  /** Every tap opened, oldest first (the last is the newest QEMU's). */
  readonly taps: SerialTap[] = [];

  /**
   * Connects to a serial socket (waiting up to `timeoutMs` for it to appear and accept) and
   * records it; `cancelled` ends the wait early.
   */
  async tap(path: string, side: string, timeoutMs = 30_000, cancelled = () => false): Promise<SerialTap> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (cancelled()) throw new Error(`stopped waiting for ${path}`);
      try {
        if (existsSync(path)) {
          const tap = await SerialTap.open(path, side, this);
          this.taps.push(tap);
          return tap;
        }
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
      if (Date.now() > deadline) throw new Error(`no serial socket at ${path}`);
      await sleep(20);
    }
  }

  /** The console text since chunk `from` (all sides). */
  text(from = 0): string {
    return this.chunks
      .slice(from)
      .map((c) => c.text)
      .join('');
  }

  lines(): CounterLine[] {
    return counterLines(this.chunks);
  }

  /** Waits until `re` matches the text printed since chunk `from`. */
  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.text(from));
      if (m) return m;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${re}: …${this.text(from).slice(-300)}`);
      await sleep(20);
    }
  }

  /** Waits until the counter printed `count` more lines than it had (it runs). */
  async waitCounting(count: number, timeoutMs: number): Promise<void> {
    const start = this.lines().length;
    const deadline = Date.now() + timeoutMs;
    while (this.lines().length < start + count) {
      if (Date.now() > deadline) throw new Error(`the guest counter stalled: …${this.text().slice(-200)}`);
      await sleep(20);
    }
  }

  close(): void {
    for (const t of this.taps) t.close();
  }
}

/** One connection to a QEMU serial socket: records what arrives, types lines. */
export class SerialTap {
  private constructor(
    private readonly socket: Socket,
    readonly side: string,
  ) {}

  static open(path: string, side: string, rec: ConsoleRecorder): Promise<SerialTap> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.setEncoding('latin1');
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        s.on('error', () => undefined); // the QEMU went away (the source after the switch-over)
        s.on('data', (text: string) => rec.chunks.push({ side, at: performance.now(), text }));
        resolve(new SerialTap(s, side));
      });
    });
  }

  /** Types `line` and Enter on the console. */
  type(line: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(`${line}\n`, (e) => (e ? reject(e) : resolve())),
    );
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Types `line` on `tap` and waits for `re` in what follows; retried while the shell does not
 * answer yet (a line typed during boot is lost).
 */
export async function shell(
  rec: ConsoleRecorder,
  tap: SerialTap,
  line: string,
  re: RegExp,
  timeoutMs = 60_000,
): Promise<RegExpExecArray> {
  const from = rec.chunks.length;
  await tap.type(line);
  return rec.waitFor(re, timeoutMs, from);
}

/** Waits until the guest's shell answers on `tap` (typed again every few seconds: early lines are lost). */
export async function waitShell(rec: ConsoleRecorder, tap: SerialTap, bootMs = 180_000): Promise<void> {
  const deadline = Date.now() + bootMs;
  for (;;) {
    try {
      await shell(rec, tap, 'echo SHELL-$((40+2))', /SHELL-42/, 5_000);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
  }
}
