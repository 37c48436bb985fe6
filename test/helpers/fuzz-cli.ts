// Socket-level fuzzing of POST /cli against a real manager: a captured xe request body and the
// captured client side of the thin CLI protocol (handshake, responses, blob chunks), each mutated,
// are sent on one connection that is then half-closed. The server must close the connection
// within the time limit (no hang), whatever it got, and keep serving.
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { mutateBytes, prng } from '../fuzz/engine.js';
import { cliUnits } from '../fuzz/targets.js';

const CORPUS = join(import.meta.dirname, '../fuzz/corpus');
const load = (dir: string) =>
  readdirSync(join(CORPUS, dir))
    .filter((f) => !f.startsWith('server-'))
    .sort()
    .map((f) => readFileSync(join(CORPUS, dir, f)));

const BODY_DICT = ['\n', '=', '--minimal', 'session_id=OpaqueRef:x\n', 'params=all', 'help\n', 'uuid=', '%'];
const STREAM_DICT = [
  '\u0000\u0000\u0000\u0000',
  '\u0004\u0000\u0000\u0000',
  '\u000a\u0000\u0000\u0000',
  '\u00ff\u00ff\u00ff\u00ff',
];

export interface CliFuzzReport {
  sent: number;
  /** How connections ended: bytes received before the close, bucketed. */
  outcomes: Record<string, number>;
  failures: string[];
}

function exchange(port: number, bytes: Buffer, limitMs: number): Promise<{ got: number; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let got = 0;
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ got, closed: false });
    }, limitMs);
    s.on('data', (d) => {
      got += d.length;
    });
    s.on('error', () => undefined); // a reset is an answer too
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ got, closed: true });
    });
    s.on('connect', () => {
      s.write(bytes);
      s.end();
    });
  });
}

/** Runs `cases` mutated /cli conversations; `password` replaces the capture's placeholder. */
export async function fuzzCli(
  port: number,
  password: string,
  cases: number,
  seed: number,
  limitMs = 15_000,
): Promise<CliFuzzReport> {
  const bodies = load('cli-body').map((b) =>
    Buffer.from(b.toString('utf8').replaceAll('fuzz-password', password)),
  );
  const streams = load('cli-protocol');
  const report: CliFuzzReport = { sent: 0, outcomes: {}, failures: [] };
  for (let i = 0; i < cases; i++) {
    const rnd = prng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
    let body: Buffer = bodies[i % bodies.length];
    let stream: Buffer = streams[Math.floor(rnd() * streams.length)];
    const which = rnd();
    if (which < 0.45) body = mutateBytes(body, rnd, { dictionary: BODY_DICT, corpus: bodies });
    else if (which < 0.9)
      stream = mutateBytes(stream, rnd, {
        dictionary: STREAM_DICT,
        corpus: streams,
        binary: true,
        units: cliUnits,
      });
    const head = `POST /cli HTTP/1.0\r\nUser-agent: xe-cli/Unix/0.2\r\ncontent-length: ${body.length}\r\n\r\n`;
    const r = await exchange(port, Buffer.concat([Buffer.from(head), body, stream]), limitMs);
    report.sent++;
    const bucket = r.got === 0 ? 'closed silently' : 'answered';
    report.outcomes[bucket] = (report.outcomes[bucket] ?? 0) + 1;
    if (!r.closed)
      report.failures.push(
        `seed ${seed} #${i}: connection still open after ${limitMs} ms; body ${JSON.stringify(body.toString('latin1').slice(0, 200))}`,
      );
  }
  return report;
}
