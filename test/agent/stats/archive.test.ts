// The RRD archive: round trip through `<state root>/rrd`, unreadable archives set aside at start,
// and what a SIGKILLed agent loses (at most one archive interval).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { archivePath, RrdArchive, readRrdFile } from '../../../src/agent/stats/archive.js';
import { StatsStore } from '../../../src/agent/stats/store.js';
import { dumpXml } from '../../../src/shared/rrd/dump.js';
import { lastValue } from '../../../src/shared/rrd/rrd.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { CHILD_VM, ScriptedSampler, valueAt } from './scripted-sampler.js';

const VM = '11111111-2222-4333-8444-555555555555';
const SR = '31111111-2222-4333-8444-555555555555';

async function fedStore(cycles: number) {
  const s = new ScriptedSampler({ vms: [VM], srs: [SR] });
  const store = new StatsStore();
  for (let i = 0; i < cycles; i++) store.ingest(await s.sample());
  return store;
}

test('every RRD held is written under rrd/ and reloaded the same', async (t) => {
  const dir = join(tempDir(t, 'berth-agent-store-'), 'rrd');
  const a = await fedStore(4);
  const saved = await new RrdArchive(dir, a).save();
  assert.deepEqual(saved, { written: 3, failed: 0 });
  assert.ok(existsSync(join(dir, 'host.xml.gz')));
  assert.ok(existsSync(join(dir, 'vm', `${VM}.xml.gz`)));
  assert.ok(existsSync(join(dir, 'sr', `${SR}.xml.gz`)));
  assert.deepEqual(
    readdirSync(join(dir, 'vm')).filter((n) => n.includes('.tmp-')),
    [],
  );
  const b = new StatsStore();
  assert.deepEqual(await new RrdArchive(dir, b).load(), { loaded: 3, setAside: 0 });
  assert.equal(dumpXml(b.host!.rrd), dumpXml(a.host!.rrd));
  assert.equal(dumpXml(b.vms.get(VM)!.rrd), dumpXml(a.vms.get(VM)!.rrd));
  assert.equal(dumpXml(b.srs.get(SR)!.rrd), dumpXml(a.srs.get(SR)!.rrd));
  // Reloaded RRDs are leftovers until a sample says the VM runs here.
  assert.deepEqual([...b.runningVms], []);
});

test('uuids are checked and paths stay under the archive folder', () => {
  assert.equal(archivePath('/s/rrd', 'vm', VM), `/s/rrd/vm/${VM}.xml.gz`);
  for (const bad of ['../../etc/passwd', '', `${VM}/..`, 'AAAAAAAA-2222-4333-8444-555555555555'])
    assert.throws(() => archivePath('/s/rrd', 'vm', bad), /not a uuid/);
});

test('unreadable archives are set aside and the agent starts with fresh RRDs', async (t) => {
  const state = tempDir(t, 'berth-agent-store-');
  const dir = join(state, 'rrd');
  await new RrdArchive(dir, await fedStore(3)).save();
  // Not gzip; gzip of something that is no RRD; a truncated gzip; a half-written temp file.
  writeFileSync(join(dir, 'host.xml.gz'), 'garbage');
  writeFileSync(join(dir, 'sr', `${SR}.xml.gz`), gzipSync('<rrd><version>0003'));
  const vmFile = join(dir, 'vm', `${VM}.xml.gz`);
  const good = readFileSync(vmFile);
  const VM2 = VM.replace('1111', '9999');
  writeFileSync(join(dir, 'vm', `${VM2}.xml.gz`), good.subarray(0, good.length >> 1));
  writeFileSync(join(dir, 'vm', `${VM}.xml.gz.tmp-1-abcd`), 'partial');
  mkdirSync(join(dir, 'vm', 'not-a-uuid.xml.gz.d'));

  const { agent } = await startTestAgent(t, { stateRoot: state });
  const store = agent.stats.store;
  assert.equal(store.host, undefined);
  assert.equal(store.srs.size, 0);
  assert.deepEqual([...store.vms.keys()], [VM]);
  const names = (sub: string) => readdirSync(join(dir, sub)).sort();
  assert.match(
    names('.').find((n) => n.startsWith('host.xml.gz.corrupt-')) ?? '',
    /^host\.xml\.gz\.corrupt-\d{4}-/,
  );
  assert.ok(names('sr').some((n) => n.startsWith(`${SR}.xml.gz.corrupt-`)));
  assert.ok(names('vm').some((n) => n.startsWith(`${VM2}.xml.gz.corrupt-`)));
  assert.ok(!names('vm').some((n) => n.includes('.tmp-')), 'temp files left by a crash are removed');
  assert.ok(names('vm').includes('not-a-uuid.xml.gz.d'), 'strangers are left alone');
  // A fresh host RRD starts with the first cycle.
  const s = new ScriptedSampler({ vms: [VM] });
  store.ingest(await s.sample());
  assert.ok(store.host);
});

test('an RRD taken with remove loses its archive; close writes the rest', async (t) => {
  const state = tempDir(t, 'berth-agent-store-');
  const { agent, client } = await startTestAgent(t, { stateRoot: state });
  const s = new ScriptedSampler({ vms: [VM], srs: [SR] });
  for (let i = 0; i < 3; i++) agent.stats.store.ingest(await s.sample());
  await agent.stats.archive.save();
  const vmFile = archivePath(join(state, 'rrd'), 'vm', VM);
  assert.ok(existsSync(vmFile));
  client.connect();
  const taken = await client.stats.stats_rrd_take('vm', VM, true);
  assert.ok(taken?.includes('<rrd>'));
  await agent.stats.archive.save(); // queued after the removal: the file stays gone
  assert.equal(existsSync(vmFile), false);
  agent.stats.store.ingest(await s.sample());
  await agent.close();
  const host = await readRrdFile(archivePath(join(state, 'rrd'), 'host'));
  assert.equal(lastValue(host, 'cpu0'), valueAt('host', 'cpu0', 3));
});

test('a SIGKILLed agent comes back with what it archived, losing at most one interval', async (t) => {
  const INTERVAL = 400;
  const STEP = 50;
  let child: ReturnType<typeof spawn> | undefined;
  t.after(() => child?.kill('SIGKILL'));
  const dir = tempDir(t, 'berth-agent-store-');
  child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'archive-child.ts'), dir, String(INTERVAL), String(STEP)],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout?.on('data', (b) => {
    out += b;
  });
  const file = archivePath(join(dir, 'state', 'rrd'), 'vm', CHILD_VM);
  const deadline = Date.now() + 60_000;
  // Run until the VM's archive has been rewritten at least once after its first write.
  let firstArchived: number | undefined;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const v = lastValue(await readRrdFile(file).catch(() => undefined as never), 'cpu0');
      if (v !== undefined && Number.isFinite(v)) {
        firstArchived ??= v;
        if (v > firstArchived) break;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const exited = new Promise((r) => child?.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  const cycles = [...out.matchAll(/cycle (\d+)/g)].map((m) => Number(m[1]));
  const lastTaken = Math.max(...cycles);
  const archived = await readRrdFile(file);

  const { agent } = await startTestAgent(t, { stateRoot: join(dir, 'state') });
  const back = agent.stats.store.vms.get(CHILD_VM);
  assert.ok(back, 'the VM RRD is back');
  assert.equal(dumpXml(back.rrd), dumpXml(archived));
  // Which reading the archive ends with, from its value; what was lost is at most one interval.
  const restoredIndex = lastValue(back.rrd, 'cpu0')! - valueAt('vm', 'cpu0', 0, CHILD_VM);
  assert.ok(Number.isInteger(restoredIndex) && restoredIndex > 0, `restored reading ${restoredIndex}`);
  const lostMs = (lastTaken - restoredIndex) * STEP;
  // One interval, plus the readings taken while a pass was being written (a loaded machine).
  assert.ok(lostMs <= INTERVAL + 6 * STEP, `lost ${lostMs} ms of readings (interval ${INTERVAL} ms)`);
});
