// npx tsx bench/replica-fanout.ts — the master's own CPU for the replicas' polls, without HTTP:
// BENCH_VMS (2,000) VM.create-sized writes at BENCH_RATE (200/s, bench:pool's pace) while
// BENCH_SLAVES (15) polls follow the database, each re-polling as soon as it is answered. "per
// write" is the old /pool/db (every poll answered at each commit, each encoding its own dump);
// "coalesced" is ReplicaPublisher. Prints CPU time (process.cpuUsage) above the same writes with
// no polls (median of BENCH_ROUNDS alternating runs), and how many dumps were encoded. In-process, a poll re-polls at once; over HTTP a
// slave's round trip lets a few commits gather, so "per write" is an upper bound of the old cost.
// Both include the polls' JSON.parse of each answer (the slaves' share, in this one process).
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseVmRecord } from '../src/manager/bootstrap/vm-record.js';
import { Database } from '../src/manager/db/database.js';
import { SqliteBackend } from '../src/manager/db/sqlite-backend.js';
import { dumpSince } from '../src/manager/pool/replica.js';
import { ReplicaPublisher } from '../src/manager/pool/replica-sync.js';
import { MODEL } from '../src/shared/datamodel/generated/model.js';

const VMS = Number(process.env.BENCH_VMS ?? 2000);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const SLAVES = Number(process.env.BENCH_SLAVES ?? 15);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Mode = 'none' | 'per write' | 'coalesced';

async function run(mode: Mode): Promise<{ cpuMs: number; encodings: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-replica-'));
  const backend = new SqliteBackend(join(dir, 'berth.db'), MODEL);
  const db = new Database(MODEL, backend);
  const ctl = new AbortController();
  setMaxListeners(SLAVES + 10, ctl.signal);
  let encodings = 0;
  const pub = mode === 'coalesced' ? new ReplicaPublisher(db, 'm') : undefined;
  // The old master: each poll woke by the next commit, then encoded its own dump.
  const perWrite = async (since: number) => {
    if (since >= db.currentGeneration)
      await new Promise<void>((resolve) => {
        const done = () => {
          off();
          ctl.signal.removeEventListener('abort', done);
          resolve();
        };
        const off = db.onCommit(done);
        ctl.signal.addEventListener('abort', done);
      });
    encodings++;
    return Buffer.from(JSON.stringify({ ok: dumpSince(db, since, 'm') }));
  };
  const follow = async () => {
    let since = db.currentGeneration;
    while (!ctl.signal.aborted) {
      const body =
        mode === 'coalesced' ? (await pub!.answer(since, 20_000, ctl.signal))?.body : await perWrite(since);
      if (!body) return;
      since = JSON.parse(body.toString('utf8')).ok.generation;
    }
  };
  const polls = mode === 'none' ? [] : Array.from({ length: SLAVES }, follow);
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  for (let i = 0; i < VMS; i++) {
    db.create('VM', baseVmRecord({ name_label: `vm-${i}` }));
    const due = t0 + ((i + 1) * 1000) / RATE;
    await sleep(Math.max(0, due - Date.now()));
  }
  await sleep(200); // the last tick
  const cpu = process.cpuUsage(cpu0);
  ctl.abort();
  pub?.close();
  await Promise.all(polls);
  backend.close();
  rmSync(dir, { recursive: true, force: true });
  return { cpuMs: (cpu.user + cpu.system) / 1000, encodings: pub ? pub.encodings : encodings };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const modes: Mode[] = ['none', 'per write', 'coalesced'];
const results = new Map<Mode, { cpuMs: number; encodings: number }[]>(modes.map((m) => [m, []]));
await run('none'); // warm-up, not counted
for (let r = 0; r < ROUNDS; r++) for (const m of modes) results.get(m)!.push(await run(m));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results.get('none')!.map((r) => r.cpuMs));
console.log(
  `${VMS} writes at ${RATE}/s, ${SLAVES} polls, median of ${ROUNDS} alternating runs; the writes alone: ${base.toFixed(0)} ms CPU`,
);
for (const m of ['per write', 'coalesced'] as const) {
  const rs = results.get(m)!;
  console.log(
    `  ${m}: ${median(rs.map((r) => r.cpuMs)).toFixed(0)} ms CPU (runs ${rs.map((r) => r.cpuMs.toFixed(0)).join(', ')}), ${median(rs.map((r) => r.encodings))} dumps encoded`,
  );
}
