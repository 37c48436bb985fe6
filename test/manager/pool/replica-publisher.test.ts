// The master's side of the replicas' long polls: a burst of writes answers every waiting slave
// once, after the coalescing delay, with one shared encoding; sessions and tasks wake nobody.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { type DbDump, applyDump, dumpSince } from '../../../src/manager/pool/replica.js';
import { applyFollowed, ReplicaPublisher } from '../../../src/manager/pool/replica-sync.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { tempDir } from '../../helpers/tmp.js';

function open(t: TestContext): Database {
  const backend = new SqliteBackend(join(tempDir(t), 'berth.db'), MODEL);
  t.after(() => backend.close());
  return new Database(MODEL, backend);
}

const decode = (r: { body: Buffer } | undefined): DbDump => JSON.parse(r!.body.toString('utf8')).ok;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('slaves polling from the same generation share one answer and one encoding', async (t) => {
  const db = open(t);
  const pub = new ReplicaPublisher(db, 'm1', 50);
  t.after(() => pub.close());
  const full = decode(await pub.answer(-1, 0, new AbortController().signal));
  assert.equal(full.full, true);
  const since = full.generation;
  const before = pub.encodings;

  const signal = new AbortController().signal;
  const t0 = Date.now();
  const polls = Array.from({ length: 15 }, () => pub.answer(since, 10_000, signal));
  // A burst of writes while they wait: one answer for all of it, not one per write.
  const vms = [];
  for (let i = 0; i < 20; i++) vms.push(db.create('VM', { name_label: `vm-${i}` }));
  const answers = await Promise.all(polls);
  assert.ok(Date.now() - t0 >= 45, 'answered after the coalescing delay');
  assert.equal(pub.encodings - before, 1, 'one encoding for 15 polls');
  assert.ok(
    answers.every((a) => a!.body === answers[0]!.body),
    'the same bytes for each',
  );
  const dump = decode(answers[0]);
  assert.equal(dump.full, false);
  assert.equal(dump.generation, db.currentGeneration);
  assert.deepEqual(new Set(dump.rows.filter((r) => r.cls === 'VM').map((r) => r.ref)), new Set(vms));

  // The replica applying it equals the master.
  const replica = open(t);
  applyDump(replica, full);
  applyDump(replica, dump);
  for (const vm of vms) assert.deepEqual(replica.get('VM', vm), db.get('VM', vm));
});

test('a poll behind the master waits for the tick; local classes wake nobody', async (t) => {
  const db = open(t);
  const pub = new ReplicaPublisher(db, 'm1', 30);
  t.after(() => pub.close());
  const since = db.currentGeneration;
  db.create('VM', { name_label: 'a' });
  // Already behind: answered at the next tick (not at once), with the change.
  const behind = decode(await pub.answer(since, 10_000, new AbortController().signal));
  assert.equal(behind.rows.length, 1);

  // A session (per host, never replicated) does not answer a waiting poll.
  const gen = behind.generation;
  let answered = false;
  const poll = pub.answer(gen, 300, new AbortController().signal).then((r) => {
    answered = true;
    return r;
  });
  db.create('session', { auth_user_name: 'root' });
  await sleep(120);
  assert.equal(answered, false, 'a session change wakes no replica');
  const idle = decode(await poll);
  assert.equal(idle.rows.length, 0, 'answered empty at the wait timeout');

  // An aborted poll (the slave went away) is not encoded.
  const ctl = new AbortController();
  const gone = pub.answer(idle.generation, 10_000, ctl.signal);
  const n = pub.encodings;
  ctl.abort();
  assert.equal(await gone, undefined);
  assert.equal(pub.encodings, n);
});

test('a follower commits full dumps durably and incremental ones with the next flush', (t) => {
  const master = open(t);
  const backend = new SqliteBackend(join(tempDir(t), 'replica.db'), MODEL);
  t.after(() => backend.close());
  let applies = 0;
  const apply = backend.apply.bind(backend);
  backend.apply = (ops, meta) => {
    applies++;
    apply(ops, meta);
  };
  const replica = new Database(MODEL, backend);
  master.create('VM', { name_label: 'first' });
  const full = dumpSince(master, -1, 'm1');
  applyFollowed(replica, full);
  assert.equal(applies, 1, 'the full dump is stored at once');

  const vm = master.create('VM', { name_label: 'second' });
  applyFollowed(replica, dumpSince(master, full.generation, 'm1'));
  assert.equal(replica.get('VM', vm)?.name_label, 'second', 'applied in memory at once');
  assert.equal(applies, 1, 'not yet on disk');
  replica.flush();
  assert.equal(applies, 2, 'stored with the next flush');
});
